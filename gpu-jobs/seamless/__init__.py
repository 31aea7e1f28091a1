"""`seamless`: SEAMLeSS-style vector-field alignment on top of the affine solve.

Between the align stage's solve and its render wave, this stage estimates a dense displacement
field per section so that local warps (compression, knife chatter, folds) that no affine can
follow are undone at render time, in the same single resampling as the affine.

Modules (science first, I/O last):
  correlation.py the default CPU estimator: templates matched by normalized cross-correlation,
                weak and inconsistent matches dropped (chosen on real sections, docs/align.md)
  flow.py       the estimator interface, multi-scale optical flow, and the smoothness regulariser
  patches.py    patch grid and blending windows, so patch borders leave no seams
  onnx_model.py the ONNX Runtime estimator (a user's model, CUDA when present)
  vote.py       vector voting: a robust per-pixel consensus of all pair fields across z
  options.py    its options; spec.py: where it runs (GKE batch Jobs) and its place in the job
  stage.py      waves `images` -> `pairs` -> `vote`
  kube.py       the GKE batch Job that runs a wave on GPUs, and its creation
  worker.py     the Job's pods: pull the wave's tasks from Pub/Sub, run them like any task
Shared with align's render, which applies the fields (stages do not import each other):
  emcore/fields.py      field arithmetic: units and grids, composition with the affine,
                        inversion, the render hook `warp_with_field`
  emcore/fieldstore.py  the field volumes (precomputed, TensorStore) and what the stage reads
                        from align
"""

"""The GPU stage's cluster: a zonal GKE Standard cluster with no nodes of its own and one GPU node
pool that scales from zero (spot VMs, the accelerator from the stack config, tainted
nvidia.com/gpu so only GPU jobs land there). The orchestrator creates a Kubernetes Job per
seamless wave; the autoscaler adds nodes for it and removes them when it is done.

With no node running, the cluster costs only GKE's management fee, which the free tier credits
for one zonal cluster per billing account (docs/deploy.md). Cloud DNS replaces kube-dns, whose
pods would have nowhere to run on a cluster scaled to zero.

The Jobs run as the Kubernetes service account <prefix>/<gpu account id> (namespace = the
deployment prefix), bound by workload identity to the GPU service account.
"""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from emctl_infra.settings import Settings

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


@dataclass
class GpuCluster:
    cluster: gcp.container.Cluster
    pool: gcp.container.NodePool
    workload_identity: gcp.serviceaccount.IAMMember
    namespace: str
    kubernetes_account: str

    def orchestrator_env(self, settings: Settings, gpu_image: pulumi.Input[str]) -> dict:
        """What the orchestrator needs to create the GPU stage's Jobs."""
        return {"EMCTL_GPU_CLUSTER": self.cluster.name, "EMCTL_GPU_LOCATION": settings.gpu_zone,
                "EMCTL_GPU_NAMESPACE": self.namespace, "EMCTL_GPU_SERVICE_ACCOUNT": self.kubernetes_account,
                "EMCTL_GPU_IMAGE": gpu_image}


def cluster_name(settings: Settings) -> str:
    return f"{settings.prefix}-gpu"


def create(settings: Settings, gpu_account: gcp.serviceaccount.Account,
           node_account: gcp.serviceaccount.Account) -> GpuCluster:
    gpu = settings.gpu
    nodes = {"service_account": node_account.email, "oauth_scopes": [CLOUD_PLATFORM],
             "workload_metadata_config": {"mode": "GKE_METADATA"}}
    cluster = gcp.container.Cluster(
        "gpu-cluster",
        name=cluster_name(settings),
        project=settings.project,
        location=settings.gpu_zone,            # zonal: the free tier covers one zonal cluster
        remove_default_node_pool=True,         # GKE needs one pool at creation; it is removed at once
        initial_node_count=1,
        node_config={**nodes, "machine_type": "e2-small"},
        deletion_protection=False,
        release_channel={"channel": "REGULAR"},
        workload_identity_config={"workload_pool": f"{settings.project}.svc.id.goog"},
        dns_config={"cluster_dns": "CLOUD_DNS", "cluster_dns_scope": "CLUSTER_SCOPE"},
    )
    pool = gcp.container.NodePool(
        "gpu-pool",
        name="gpu",
        project=settings.project,
        cluster=cluster.name,
        location=settings.gpu_zone,
        initial_node_count=0,
        autoscaling={"min_node_count": 0, "max_node_count": gpu.max_nodes, "location_policy": "ANY"},
        management={"auto_repair": True, "auto_upgrade": True},
        node_config={
            **nodes,
            "machine_type": gpu.machine_type,
            "spot": gpu.spot,
            "disk_size_gb": 100,
            "disk_type": "pd-balanced",
            "guest_accelerators": [{"type": gpu.accelerator_type, "count": gpu.accelerator_count,
                                    "gpu_driver_installation_config": {"gpu_driver_version": "DEFAULT"}}],
            "taints": [GPU_TAINT],
            "labels": {"emctl/pool": "gpu"},
        },
    )
    namespace, kubernetes_account = settings.prefix, settings.names.gpu_account
    workload_identity = gcp.serviceaccount.IAMMember(
        "gpu-workload-identity",
        service_account_id=gpu_account.name,
        role="roles/iam.workloadIdentityUser",
        member=f"serviceAccount:{settings.project}.svc.id.goog[{namespace}/{kubernetes_account}]",
        opts=pulumi.ResourceOptions(depends_on=[cluster]),   # the identity pool exists once the cluster does
    )
    return GpuCluster(cluster, pool, workload_identity, namespace, kubernetes_account)

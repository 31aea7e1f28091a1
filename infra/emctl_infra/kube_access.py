"""What may happen inside the GPU cluster, and who may do it: the namespace of the GPU stage's
Jobs, the Kubernetes service account they run as (bound by workload identity to the GPU Google
account), and the orchestrator's right to create and scale Jobs there and nowhere else.

Google Cloud IAM has no role narrower than the project for Kubernetes objects
(`roles/container.developer` would let the orchestrator change anything in every cluster of the
project). So the orchestrator's Google account holds only `roles/container.clusterViewer` (find
the cluster and connect to it: no Kubernetes object), and a Kubernetes Role in the one namespace
grants it the Job verbs it uses (seamless/kube.py: list, create, patch), bound to its account's
email, as GKE authenticates it.
"""
from __future__ import annotations

import json

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

JOB_VERBS = ["create", "get", "list", "patch"]
RBAC = "rbac.authorization.k8s.io"


def kubeconfig(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    """How Pulumi reaches the cluster: its endpoint and CA, and the deployer's own Google
    credentials through gke-gcloud-auth-plugin (no key is stored anywhere)."""
    def build(args) -> str:
        name, endpoint, auth = args
        context = f"gke-{name}"
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": f"https://{endpoint}",
                                                        "certificate-authority-data": auth["cluster_ca_certificate"]}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": {"exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "gke-gcloud-auth-plugin",
                "provideClusterInfo": True, "installHint": "gcloud components install gke-gcloud-auth-plugin"}}}],
        })
    return pulumi.Output.all(cluster.name, cluster.endpoint, cluster.master_auth).apply(build)


def create(prefix: str, cluster: gcp.container.Cluster, namespace: str, kubernetes_account: str,
           orchestrator: gcp.serviceaccount.Account, gpu: gcp.serviceaccount.Account) -> list:
    provider = k8s.Provider("gpu-cluster", kubeconfig=kubeconfig(cluster), namespace=namespace)
    opts = pulumi.ResourceOptions(provider=provider)
    ns = k8s.core.v1.Namespace("gpu-namespace", metadata={"name": namespace}, opts=opts)
    account = k8s.core.v1.ServiceAccount(
        "gpu-kubernetes-account", opts=opts,
        metadata={"name": kubernetes_account, "namespace": ns.metadata["name"],
                  "annotations": {"iam.gke.io/gcp-service-account": gpu.email}})
    role = k8s.rbac.v1.Role(
        "orchestrator-jobs", opts=opts,
        metadata={"name": f"{prefix}-orchestrator-jobs", "namespace": ns.metadata["name"]},
        rules=[{"api_groups": ["batch"], "resources": ["jobs"], "verbs": JOB_VERBS}])
    binding = k8s.rbac.v1.RoleBinding(
        "orchestrator-jobs", opts=opts,
        metadata={"name": f"{prefix}-orchestrator-jobs", "namespace": ns.metadata["name"]},
        role_ref={"api_group": RBAC, "kind": "Role", "name": role.metadata["name"]},
        subjects=[{"kind": "User", "name": orchestrator.email, "api_group": RBAC}])
    return [ns, account, role, binding]

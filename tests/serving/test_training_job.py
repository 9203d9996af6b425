"""The multi-worker training Job builds a TF_CONFIG that ecomtf reads as intended."""

import json
import os
import pathlib
import subprocess

import pytest

yaml = pytest.importorskip("yaml")

JOB = pathlib.Path(__file__).resolve().parents[2] / "serving" / "k8s" / "training-job.yaml"


def test_each_pod_gets_its_own_index_in_one_cluster(monkeypatch):
    from ecomtf.recipes.prepared import cluster_from_env

    service, job = list(yaml.safe_load_all(JOB.read_text()))
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["parallelism"] == spec["completions"] == 2
    pod = spec["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"]
    script = pod["containers"][0]["args"][0]
    # The real command with `ecomtf` swapped for a function that prints TF_CONFIG.
    script = 'ecomtf() { echo "$TF_CONFIG"; }\n' + script.replace("exec ecomtf", "ecomtf")
    seen = []
    for index in (0, 1):
        out = subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                             env=dict(os.environ, JOB_COMPLETION_INDEX=str(index)), check=True)
        config = json.loads(out.stdout)
        assert config["cluster"]["worker"] == [
            "ecomtf-train-0.ecomtf-train:12345", "ecomtf-train-1.ecomtf-train:12345"]
        monkeypatch.setenv("TF_CONFIG", out.stdout)
        seen.append(cluster_from_env())
    assert seen == [(2, 0), (2, 1)]
    assert "--backup-dir" in script and "--prepared" in script

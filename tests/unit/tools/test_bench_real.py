"""What the real-Pachyderm bench sends and where (its timings are never tested)."""

from __future__ import annotations

import json
import os

from tools.bench_real import MIB, fresh_file, incomplete_requests, median, pachctl_config


def test_every_mib_of_a_runs_file_is_new_data_so_pachd_cannot_deduplicate_it(tmp_path):
    base = os.urandom(4 * MIB)
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    fresh_file(first, 8 * MIB, "ours-20", base)
    fresh_file(second, 8 * MIB, "ours-60", base)
    a, b = first.read_bytes(), second.read_bytes()
    assert len(a) == len(b) == 8 * MIB
    blocks = [a[i : i + MIB] for i in range(0, len(a), MIB)] + [b[i : i + MIB] for i in range(0, len(b), MIB)]
    # The base repeats every 4 MiB, yet no MiB is the same as another, within a file or across runs.
    assert len(set(blocks)) == len(blocks)


def test_the_role_written_context_is_pointed_at_the_link_with_the_token(tmp_path):
    written = tmp_path / "config.json"
    context = {"pachd_address": "grpcs://10.0.0.5:443", "server_cas": "Q0E=", "session_token": ""}
    written.write_text(json.dumps({"v2": {"active_context": "one", "contexts": {"one": context}}}))
    tls_path = pachctl_config(written, tmp_path / "tls.json", "127.0.0.1:4000", "tok", True)
    tls = json.loads(tls_path.read_text())
    assert tls["v2"]["contexts"]["one"] == {
        "pachd_address": "grpcs://127.0.0.1:4000",
        "server_cas": "Q0E=",
        "session_token": "tok",
    }
    assert tls["v2"]["metrics"] is False
    plain_path = pachctl_config(written, tmp_path / "plain.json", "127.0.0.1:4001", "tok", False)
    plain = json.loads(plain_path.read_text())["v2"]["contexts"]["one"]
    assert plain["pachd_address"] == "grpc://127.0.0.1:4001" and "server_cas" not in plain
    assert oct(plain_path.stat().st_mode & 0o777) == "0o600"  # it holds the root token


def test_the_median_of_repeated_runs_ignores_one_outlier_either_way():
    assert median([50.0, 12.0, 48.0]) == 48.0
    assert median([41.7, 53.6, 52.0, 90.0]) == (52.0 + 53.6) / 2
    assert median([7.5]) == 7.5


def test_only_the_requests_the_proxy_did_not_complete_are_shown():
    done = {"path": "/pfs_v2.API/ModifyFile", "response_flags": "-", "grpc_status": "OK", "duration_ms": 9}
    reset = dict(done, response_flags="UR", response_code_details="upstream_reset_before_response_started")
    refused = dict(done, grpc_status="UNAVAILABLE")
    text = "\n".join(
        ["[info] starting main dispatch loop", json.dumps(done), json.dumps(reset), "3", json.dumps(refused)]
    )
    assert incomplete_requests(text) == [
        "path=/pfs_v2.API/ModifyFile response_flags=UR "
        "response_code_details=upstream_reset_before_response_started grpc_status=OK duration_ms=9",
        "path=/pfs_v2.API/ModifyFile response_flags=- response_code_details=None "
        "grpc_status=UNAVAILABLE duration_ms=9",
    ]

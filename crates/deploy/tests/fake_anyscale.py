"""The real `anyscale` CLI against the package's own fake backend (`FakeAnyscaleClient`).

Used by crates/deploy/tests/anyscale.rs: every command, flag parser, printer and model of
the installed `anyscale` package runs as it is; only the client that would talk to
Anyscale's API is replaced by `FakeAnyscaleClient`, which the package ships for its own
tests. Each run is one CLI invocation, so the fake's state is kept in a pickle file
between runs, as a backend would keep it.

Environment:
  FAKE_ANYSCALE_STATE      the state file (created on first use)                  [required]
  FAKE_ANYSCALE_SEED       JSON, applied when the state file is created:
                           {"cloud": NAME, "project": NAME, "compute_config": NAME,
                            "other_projects": [NAME, ...]}; project NAME gets the id
                           project-id-NAME, compute config NAME compute-config-id-NAME
  FAKE_ANYSCALE_QUERY_URL  base URL given to services deployed by this run
  FAKE_ANYSCALE_TOKEN      bearer token given to services deployed by this run
  FAKE_ANYSCALE_STATES     comma-separated states a service deployed by this run goes
                           through, one step per `service status` run (it starts in the
                           fake's STARTING; the last state stays)
  FAKE_ANYSCALE_ROLLOUTS   a file to which each rollout request the SDK built (the model
                           it would send to Anyscale's API) is appended as one JSON line

What stands in for Anyscale, and nothing else:
  - `anyscale._private.sdk.base_sdk.AnyscaleClient` (the factory of every SDK's client)
    returns the one fake;
  - the legacy controllers' authenticated API clients (`get_auth_api_client`,
    `AnyscaleSDK`) are stubs that fail if used: `service terminate --id` needs neither,
    `--name` does (it would search every project through the legacy API);
  - no upgrade check against PyPI, no telemetry, and no connection leaves loopback.
"""

import json
import os
import pickle
import socket
import sys

os.environ["ANYSCALE_SUPPRESS_UPGRADE_WARNING"] = "1"
os.environ["ANYSCALE_TELEMETRY_SAMPLE_RATE"] = "0"

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in ("127.0.0.1", "::1", "localhost"):
        raise OSError(f"fake_anyscale: no network: refused to connect to {address!r}")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only

from anyscale._private.anyscale_client import FakeAnyscaleClient
from anyscale._private.sdk import base_sdk
from anyscale.client.openapi_client.models import Cloud
from anyscale.controllers import (
    base_controller,
    service_controller,
)
from anyscale.scripts import main
from anyscale.sdk.anyscale_client.models import (
    ClusterCompute,
    ClusterComputeConfig,
    ComputeNodeType,
    ServiceEventCurrentState,
)

# Attributes of the fake that are not state (and cannot be pickled).
_NOT_STATE = {"_internal_api_client"}


class _NoLegacyApi:
    """Stands in for the legacy authenticated API clients: any call through it fails."""

    def __init__(self, *_args, name="legacy API", **_kwargs):
        self._name = name

    def __getattr__(self, name):
        return _NoLegacyApi(name=f"{self._name}.{name}")

    def __call__(self, *_args, **_kwargs):
        raise RuntimeError(
            f"fake_anyscale: {self._name} is not faked (it needs a real Anyscale login)"
        )


def _seed(client, seed):
    cloud = seed.get("cloud")
    if cloud:
        cloud_id = f"cloud-id-{cloud}"
        client.add_cloud(
            Cloud(
                id=cloud_id,
                name=cloud,
                local_vars_configuration=FakeAnyscaleClient.OPENAPI_NO_VALIDATION,
            )
        )
    else:
        cloud_id = FakeAnyscaleClient.DEFAULT_CLOUD_ID
        cloud = FakeAnyscaleClient.DEFAULT_CLOUD_NAME
    for project in [seed.get("project"), *seed.get("other_projects", [])]:
        if project:
            client.register_project_by_name(
                project, cloud=cloud, project_id=f"project-id-{project}"
            )
    compute_config = seed.get("compute_config")
    if compute_config:
        client.add_compute_config(
            ClusterCompute(
                id=f"compute-config-id-{compute_config}",
                name=compute_config,
                config=ClusterComputeConfig(
                    cloud_id=cloud_id,
                    head_node_type=ComputeNodeType(
                        name="head", instance_type="m5.2xlarge"
                    ),
                    local_vars_configuration=FakeAnyscaleClient.OPENAPI_NO_VALIDATION,
                ),
                local_vars_configuration=FakeAnyscaleClient.OPENAPI_NO_VALIDATION,
            )
        )


def _load(path):
    client = FakeAnyscaleClient()
    scripts = {}
    if os.path.exists(path):
        with open(path, "rb") as f:
            saved = pickle.load(f)
        client.__dict__.update(saved["client"])
        scripts = saved["scripts"]
    else:
        _seed(client, json.loads(os.environ.get("FAKE_ANYSCALE_SEED", "{}")))
    return client, scripts


def _save(path, client, scripts):
    state = {k: v for k, v in client.__dict__.items() if k not in _NOT_STATE}
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"client": state, "scripts": scripts}, f)
    os.replace(tmp, path)


def _record_rollouts(client, scripts):
    """Services deployed by this run get this run's URL, token and states to go through."""
    rollout = client.rollout_service

    def rollout_service(model):
        if os.environ.get("FAKE_ANYSCALE_ROLLOUTS"):
            with open(os.environ["FAKE_ANYSCALE_ROLLOUTS"], "a") as f:
                f.write(json.dumps(model.to_dict(), default=str) + "\n")
        service = rollout(model)
        if os.environ.get("FAKE_ANYSCALE_QUERY_URL"):
            service.base_url = os.environ["FAKE_ANYSCALE_QUERY_URL"]
        if os.environ.get("FAKE_ANYSCALE_TOKEN"):
            service.auth_token = os.environ["FAKE_ANYSCALE_TOKEN"]
        states = os.environ.get("FAKE_ANYSCALE_STATES", "")
        scripts[service.id] = [s for s in states.split(",") if s]
        return service

    client.rollout_service = rollout_service


def _advance(client, scripts):
    """One step of the backend: each live service moves to its next scripted state."""
    for service_id, states in scripts.items():
        service = client._services.get(service_id)
        if (
            service is None
            or service.current_state == ServiceEventCurrentState.TERMINATED
        ):
            continue
        if states:
            service.current_state = states.pop(0)


def run():
    path = os.environ["FAKE_ANYSCALE_STATE"]
    client, scripts = _load(path)
    if sys.argv[1:3] == ["service", "status"]:
        _advance(client, scripts)
    _record_rollouts(client, scripts)
    base_sdk.AnyscaleClient = lambda *_args, **_kwargs: client
    base_controller.get_auth_api_client = _NoLegacyApi
    service_controller.AnyscaleSDK = _NoLegacyApi
    sys.argv[0] = "anyscale"
    try:
        main()
    finally:
        # The instance attribute wrapping rollout_service is not state.
        client.__dict__.pop("rollout_service", None)
        _save(path, client, scripts)


if __name__ == "__main__":
    run()

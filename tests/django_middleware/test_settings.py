"""A wrong PAINEL setting fails at start-up, naming the key and what is allowed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_middleware import conf
from local_services.paths import REPO_ROOT

from .helpers import server_env


def test_django_refuses_to_start_with_a_slow_threshold_off_the_buckets():
    env = {**server_env(), "PAINEL_TEST_SETTINGS": json.dumps({"SLOW_REQUEST_THRESHOLD": 0.3})}
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PAINEL['SLOW_REQUEST_THRESHOLD'] must be one of the BUCKETS bounds" in result.stderr


def test_django_refuses_to_start_with_an_empty_multiprocess_directory(tmp_path):
    # prometheus_client would take "" as multiprocess mode in the current directory.
    env = {**os.environ, **server_env(), "PYTHONPATH": str(REPO_ROOT)}
    env["PROMETHEUS_MULTIPROC_DIR"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: PROMETHEUS_MULTIPROC_DIR is set but empty" in result.stderr
    assert "set it to an existing directory" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no metric files left in the current directory


@pytest.mark.parametrize(
    ("painel", "message"),
    [
        ({"TENANT_HEADR": "X-Org"}, "unknown key(s) 'TENANT_HEADR'; allowed keys: TENANT_HEADER"),
        ({"TENANT_HEADER": "X_Tenant"}, "PAINEL['TENANT_HEADER'] must be a header name of"),
        ({"TENANT_HEADER": None}, "PAINEL['TENANT_HEADER'] must be a header name of"),
        ({"MAX_TENANTS": 0}, "PAINEL['MAX_TENANTS'] must be a positive integer"),
        (
            {"TENANT_LATENCY": "tenant_only"},
            "PAINEL['TENANT_LATENCY'] must be one of 'per_endpoint', 'per_tenant', 'off'",
        ),
        ({"BUCKETS": [0.1, 0.05]}, "PAINEL['BUCKETS'] must be strictly increasing"),
        ({"USER_FIELD": "email"}, "PAINEL['USER_FIELD'] must be 'id', 'username' or None"),
        ({"TENANT_RESOLVER": "no.such.resolver"}, "PAINEL['TENANT_RESOLVER'] cannot import"),
        ({"EXCLUDED_PATHS": "/metrics"}, "PAINEL['EXCLUDED_PATHS'] must be a list of strings"),
        ({"METRICS_BASIC_AUTH": "admin"}, "PAINEL['METRICS_BASIC_AUTH'] must be 'user:password'"),
        ({"METRICS_ALLOWED_IPS": ["10.0.0.300"]}, "'10.0.0.300', which is not an IP address"),
        ({"HEALTH_TIMEOUT": -1}, "PAINEL['HEALTH_TIMEOUT'] must be greater than 0"),
        ({"HEALTH_CHECKS": ["os.sep"]}, "PAINEL['HEALTH_CHECKS'] 'os.sep' is not callable"),
    ],
)
def test_each_wrong_setting_names_its_key(painel, message):
    with pytest.raises(ImproperlyConfigured) as failure:
        conf.build(painel)
    assert message in str(failure.value)


def test_defaults_are_the_documented_ones():
    settings = conf.build({})
    assert settings.tenant_header == "X-Tenant-ID"
    assert settings.max_tenants == 200
    assert settings.tenant_latency == "per_endpoint"
    assert settings.slow_request_threshold == 0.5
    assert settings.buckets == (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
    assert settings.excluded_paths == {"/metrics", "/health"}
    assert settings.user_field == "id"
    assert settings.health_timeout == 2.0


def test_credentials_stay_out_of_the_settings_repr():
    settings = conf.build({"METRICS_BEARER_TOKEN": "t0ken-x", "METRICS_BASIC_AUTH": "prom:pa55-y"})
    assert settings.metrics_bearer_token == "t0ken-x"
    assert not any(secret in repr(settings) for secret in ("t0ken-x", "pa55-y"))

"""mixin/config.py: the defaults the committed rules use, a YAML file, and what it refuses."""

from __future__ import annotations

import pytest

from django_middleware.conf import DEFAULTS
from mixin.config import ConfigError, MixinConfig, load_config


def test_defaults_are_the_middlewares_threshold_and_the_issues_objectives():
    config = MixinConfig()
    assert config.slow_request_threshold == DEFAULTS["SLOW_REQUEST_THRESHOLD"]
    assert (config.availability_objective, config.latency_objective) == (0.999, 0.99)
    assert config.slo_window == "30d" and config.slo_window_hours == 720
    assert config.runbook_base_url.startswith("https://")
    assert config.cluster_label is None  # one Prometheus: no cluster variable, rules as before


def test_a_yaml_file_sets_some_keys_and_the_rest_keep_their_defaults(tmp_path):
    path = tmp_path / "mixin.yml"
    path.write_text(
        "app_job_selector: 'job=\"shop\"'\n"
        "availability_objective: 0.995\n"
        "slo_window: 4w\n"
        "extra_labels: {team: shop}\n"
    )
    config = load_config(path)
    assert config.app_job_selector == 'job="shop"'
    assert config.availability_objective == 0.995
    assert config.slo_window_hours == 672
    assert dict(config.extra_labels) == {"team": "shop"}
    assert config.latency_objective == 0.99


def test_an_unknown_key_is_refused_naming_it_and_the_known_ones(tmp_path):
    path = tmp_path / "mixin.yml"
    path.write_text("availabilty_objective: 0.995\n")  # a typo
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message and "'availabilty_objective'" in message
    assert "availability_objective" in message.split("known keys:")[1]


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"availability_objective": 1.0}, "availability_objective"),
        ({"latency_objective": "99%"}, "latency_objective"),
        ({"slo_window": "a month"}, "slo_window"),
        ({"runbook_base_url": "docs/runbook.md"}, "runbook_base_url"),
        ({"app_job_selector": '{job="django"}'}, "app_job_selector"),
        ({"extra_labels": {"severity": "low"}}, "extra_labels"),
        ({"extra_labels": {"team-name": "x"}}, "extra_labels"),
        ({"slow_request_threshold": 0}, "slow_request_threshold"),
        ({"cluster_label": "k8s-cluster"}, "cluster_label"),
        ({"cluster_label": "job"}, "cluster_label"),
        ({"cluster_label": ""}, "cluster_label"),
        ({"range_rules_interval": "60"}, "range_rules_interval"),
        ({"range_rules_interval": "0m"}, "range_rules_interval"),
        ({"range_rules_delay": "30"}, "range_rules_delay"),
    ],
)
def test_a_bad_value_is_refused_with_the_key_named(values, names):
    with pytest.raises(ConfigError, match=names):
        MixinConfig(**values)


def test_a_file_that_is_no_mapping_is_refused(tmp_path):
    path = tmp_path / "mixin.yml"
    path.write_text("- availability_objective\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)

"""painel's Prometheus rules, generated from one configuration (mixin/config.py).

    python -m prometheus.rules_generator [--config FILE] [--out DIR]

writes recording.yml, alerts.yml and slo.yml. The committed prometheus/rules/ is the output
with the defaults (a test keeps them equal): change the generator, not the YAML.
recording.py, alerts.py and slo.py build the rule groups; rule.py the rule dicts with
their labels and runbook links (runbook.py); promql.py the selectors; render.py the YAML.
"""

from prometheus.rules_generator.render import RULES_DIR, render_rule_files, write_rule_files

__all__ = ["RULES_DIR", "render_rule_files", "write_rule_files"]

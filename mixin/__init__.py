"""What a user of painel may set once for its rules (and, later, its dashboards): mixin/config.py."""

"""The Django project the HTTP benchmarks serve under gunicorn: painel installed as the README
says, the app's /metrics and nothing else (the benchmarks never lean on the tests' project)."""

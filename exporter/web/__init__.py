"""--web.config.file: TLS and bcrypt basic auth in exporter-toolkit's format."""

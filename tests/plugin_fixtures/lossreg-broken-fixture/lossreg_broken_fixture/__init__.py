"""A deliberately broken lossreg plugin (see tests/plugin_fixtures/README.md)."""

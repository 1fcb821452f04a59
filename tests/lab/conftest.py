"""Lab tier: the netns_lab fixtures (``lab``, ``lab_factory``) come from the plugin that tests/conftest.py loads."""

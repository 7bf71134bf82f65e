"""Model configs registry and model wrappers (DESIGN §7).

Filled in by the models work: `read_model_configs`, `load_model_by_config_name`,
`clear_model_configs`, `get_model_configs`, `ModelWrapperBase`, `ModelResponse`.
"""

"""`agentscope_rpc.init()` with AgentScope 0.1.6's keywords (issue 9, item 12)."""
from __future__ import annotations

import json
import logging
import os

import pytest

import agentscope_rpc
from agentscope_rpc.agents import DialogAgent, DictDialogAgent
from agentscope_rpc.exception import ModelConfigError
from agentscope_rpc.logging import log_msg
from agentscope_rpc.message import Msg
from agentscope_rpc.models import clear_model_configs, default_usage

SCRIPTED = {"config_name": "scripted-init", "model_type": "scripted", "responses": ["Hello from the model"]}


@pytest.fixture(autouse=True)
def _clean(restore_logging):  # pylint: disable=unused-argument
    clear_model_configs()
    yield
    clear_model_configs()


def test_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="modle_configs"):
        agentscope_rpc.init(modle_configs=[SCRIPTED])  # a typo must not pass silently


def test_every_016_keyword_is_accepted(tmp_path, caplog):
    agents = agentscope_rpc.init(
        model_configs=[SCRIPTED], project="p", name="n", disable_saving=True, save_dir=str(tmp_path),
        save_log=True, save_code=True, save_api_invoke=True, cache_dir=str(tmp_path / "cache"),
        use_monitor=False, logger_level="INFO", runtime_id="r", agent_configs=None,
        studio_url="http://localhost:5000", console=False,
    )
    assert agents == []
    assert os.listdir(tmp_path) == []  # disable_saving: no run directory
    assert "Studio is not supported" in caplog.text
    state = agentscope_rpc.state_dict()
    assert (state["project"], state["name"], state["run_id"]) == ("p", "n", "r")
    assert "scripted-init" in state["model"]["model_configs"]


def test_agent_configs_build_the_agents_in_order(tmp_path):
    configs = [
        {"class": "DialogAgent", "args": {"name": "Ann", "sys_prompt": "Be kind.", "model_config_name": "scripted-init"}},
        {"class": "DictDialogAgent", "args": {"name": "Bob", "sys_prompt": "Play.",
                                               "model_config_name": "scripted-init", "use_memory": True}},
    ]
    ann, bob = agentscope_rpc.init(model_configs=[SCRIPTED], agent_configs=configs, console=False)
    assert isinstance(ann, DialogAgent) and isinstance(bob, DictDialogAgent)
    assert (ann.name, bob.name, ann.sys_prompt) == ("Ann", "Bob", "Be kind.")
    path = tmp_path / "agents.json"
    path.write_text(json.dumps(configs[0]), encoding="utf-8")
    (again,) = agentscope_rpc.init(agent_configs=str(path), console=False)
    assert again.name == "Ann"
    with pytest.raises(ValueError, match="NoSuchAgent"):
        agentscope_rpc.init(agent_configs=[{"class": "NoSuchAgent", "args": {}}], console=False)


def test_run_files(tmp_path, monkeypatch):
    workdir = tmp_path / "app"
    workdir.mkdir()
    (workdir / "main.py").write_text("print('the app')\n", encoding="utf-8")
    monkeypatch.chdir(workdir)
    (agent,) = agentscope_rpc.init(
        model_configs=[SCRIPTED], save_dir=str(tmp_path / "runs"), runtime_id="run-1",
        save_log=True, save_code=True, save_api_invoke=True, console=False,
        agent_configs=[{"class": "DialogAgent", "args": {"name": "Ann", "model_config_name": "scripted-init"}}],
    )
    agent(Msg("user", "hi", "user"))
    log_msg(Msg("Moderator", "Night falls.", "assistant"))
    Msg("Host", "echoed", "assistant", echo=True)
    logging.getLogger("my.app").warning("a log record")
    run = tmp_path / "runs" / "run-1"
    chat = [json.loads(line) for line in (run / "logging.chat").read_text(encoding="utf-8").splitlines()]
    assert [(m["name"], m["content"]) for m in chat] == [
        ("Ann", "Hello from the model"), ("Moderator", "Night falls."), ("Host", "echoed"),
    ]
    log_text = (run / "logging.log").read_text(encoding="utf-8")
    assert "Ann: Hello from the model" in log_text and "a log record" in log_text
    assert (run / "code" / "main.py").read_text(encoding="utf-8") == "print('the app')\n"
    (invocation,) = [json.loads(p.read_text(encoding="utf-8")) for p in (run / "invoke").iterdir()]
    assert invocation["response"]["text"] == "Hello from the model"
    assert invocation["arguments"]["messages"][-1] == {"role": "user", "content": "user: hi"}
    config = json.loads((run / ".config").read_text(encoding="utf-8"))
    assert config["run_id"] == "run-1" and config["file"]["save_log"] is True


def test_nothing_is_written_unless_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    agentscope_rpc.init(model_configs=[SCRIPTED], console=False)
    assert os.listdir(tmp_path) == []


def test_unknown_model_type_warns_at_init_and_fails_at_use(caplog):
    agentscope_rpc.init(model_configs=[{"config_name": "post", "model_type": "post_api_chat", "api_url": "x"}, SCRIPTED],
                        console=False)
    assert "unknown model_type 'post_api_chat'" in caplog.text
    assert DialogAgent("ok", model_config_name="scripted-init")(None).content == "Hello from the model"
    with pytest.raises(ModelConfigError, match="post_api_chat"):
        DialogAgent("bad", model_config_name="post")


def test_logger_levels():
    agentscope_rpc.init(logger_level="DEBUG", console=False)
    assert logging.getLogger().level == logging.DEBUG
    agentscope_rpc.init(logger_level="SUCCESS", console=False)  # loguru's level names map onto stdlib's
    assert logging.getLogger().level == logging.INFO
    with pytest.raises(ValueError, match="unknown logger level"):
        agentscope_rpc.init(logger_level="LOUD", console=False)


def test_print_llm_usage_counts_calls():
    default_usage().reset()
    agentscope_rpc.init(model_configs=[SCRIPTED], console=False)
    DialogAgent("Ann", model_config_name="scripted-init")(None)
    usage = agentscope_rpc.print_llm_usage()
    (row,) = usage["text_and_embedding"]
    assert (row["config_name"], row["model_type"], row["calls"]) == ("scripted-init", "scripted", 1)
    assert usage["image"] == []

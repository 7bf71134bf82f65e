# -*- coding: utf-8 -*-
"""Memory, serialisation and the model manager, as 0.1.6 programs use them."""
import agentscope
from agentscope.manager import ModelManager
from agentscope.memory import TemporaryMemory
from agentscope.message import Msg
from agentscope.serialize import deserialize, serialize
from agentscope.utils.common import _get_timestamp

agentscope.init(model_configs={"config_name": "echo", "model_type": "scripted", "responses": ["hi"]},
                disable_saving=True)
memory = TemporaryMemory()
memory.add([Msg("user", "Hello", role="user"), Msg("agent", "Hi!", role="assistant")])
memory.add(memory.get_memory()[0])  # already there: skipped
memory.delete(100)                  # not there: skipped with a warning
memory.export(file_path="memory.json")
restored = TemporaryMemory()
restored.load("memory.json")
assert serialize(restored.get_memory()) == serialize(memory.get_memory())
assert deserialize(serialize(memory.get_memory()[1])).content == "Hi!"
model = ModelManager.get_instance().get_model_by_config_name("echo")
print("SIZE=%d MODEL=%s STAMP=%d" % (restored.size(), model([]).text, len(_get_timestamp("%Y%m%d"))))

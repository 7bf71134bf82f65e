"""`agentscope_rpc.tools`: schemas from signatures and docstrings, the toolkit, the text protocol."""
import enum
import functools
import json
import random
from typing import Any, Literal, Optional

import pytest

from agentscope_rpc.service import ServiceExecStatus, ServiceResponse, ServiceToolkit
from agentscope_rpc.tools import ToolCall, Toolkit, function_schema, tool
from agentscope_rpc.tools.protocol import CLOSE, OPEN, TagFilter, call_schema, instructions, parse_call
from tool_funcs import SPANS, explode, get_current_weather, get_forecast, hang, release_hung, search_web

pytestmark = pytest.mark.timeout(60)


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


def sample(city: str, days: int = 3, unit: Literal["C", "F"] = "C", tags: Optional[list[str]] = None,
           colour: Colour = Colour.RED, ratio: float = 0.5, strict: bool = False, extra: dict[str, int] = None,
           anything=None, *args: Any, **kwargs: Any) -> str:
    """Look up the weather.

    A second paragraph of the description.

    Args:
        city (str): Name of the
            city, continued on the next line.
        days: How many days.
        unit: Celsius or Fahrenheit.
        tags: Labels.
        colour: A colour.
        ratio: A number.
        strict: A flag.
        extra: More.
        anything (int): Typed only in the docstring.

    Returns:
        str: the answer
    """
    return city


def test_schema_from_signature_and_google_docstring():
    schema = function_schema(sample)
    function = schema["function"]
    assert schema["type"] == "function" and function["name"] == "sample"
    assert function["description"] == "Look up the weather. A second paragraph of the description."
    params = function["parameters"]
    props = params["properties"]
    assert params["required"] == ["city"]
    assert list(props) == ["city", "days", "unit", "tags", "colour", "ratio", "strict", "extra", "anything"]
    assert props["city"] == {"type": "string", "description": "Name of the city, continued on the next line."}
    assert props["days"] == {"type": "integer", "description": "How many days.", "default": 3}
    assert props["unit"] == {"enum": ["C", "F"], "type": "string", "description": "Celsius or Fahrenheit.",
                             "default": "C"}
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert props["colour"]["enum"] == ["red", "blue"] and props["colour"]["default"] == "red"
    assert props["ratio"]["type"] == "number" and props["strict"]["type"] == "boolean"
    assert props["extra"] == {"type": "object", "additionalProperties": {"type": "integer"}, "description": "More."}
    assert props["anything"]["type"] == "integer"  # from the docstring, no annotation


def test_schema_leaves_out_preset_and_partial_arguments():
    kit = Toolkit()
    kit.add(search_web, api_key="secret")
    assert list(kit.schemas()[0]["function"]["parameters"]["properties"]) == ["query"]
    bound = functools.partial(get_forecast, days=2)
    assert list(function_schema(bound, name="forecast")["function"]["parameters"]["properties"]) == ["city"]


def test_decorator_options_and_toolkit_registration():
    @tool(name="weather_now", timeout=5)
    def weather(city: str) -> str:
        """Now."""
        return city

    kit = Toolkit([weather])
    assert kit.names == ["weather_now"] and kit.tools["weather_now"].timeout == 5

    @kit.tool
    def other(x: int) -> int:
        """Other."""
        return x

    assert kit.names == ["weather_now", "other"] and "other" in kit and len(kit) == 2
    assert kit.remove("other") and not kit.remove("other")


def test_calls_run_in_parallel_and_results_keep_their_order():
    SPANS.clear()
    kit = Toolkit([get_current_weather, get_forecast])
    results = kit.run_all([ToolCall("a", "get_forecast", {"city": "Oslo", "days": 2}),
                           ToolCall("b", "get_current_weather", {"city": "Tokyo"})])
    assert [r.call.id for r in results] == ["a", "b"] and all(r.ok for r in results)
    assert json.loads(results[0].content) == [{"day": 1, "sky": "cloudy", "high_c": 18},
                                              {"day": 2, "sky": "cloudy", "high_c": 19}]
    (_, s1, e1), (_, s2, e2) = sorted(SPANS, key=lambda span: span[1])
    assert s2 < e1  # the second started before the first ended: they overlapped


@pytest.mark.parametrize("call, problem", [
    (ToolCall("1", "nope", {}), "unknown tool 'nope'"),
    (ToolCall("2", "get_forecast", {"days": 2}), "missing required argument(s): city"),
    (ToolCall("3", "get_forecast", {"city": "x", "when": 1}), "unknown argument(s): when"),
    (ToolCall("4", "get_forecast", {"city": "x", "days": "many"}), "expected a integer"),
    (ToolCall("5", "get_current_weather", {"city": "x", "unit": "kelvin"}), "'kelvin' is not one of"),
    (ToolCall("6", "explode", {"reason": "fuse"}), "RuntimeError: the tool broke: fuse"),
    (ToolCall("7", "get_forecast", ["Oslo"]), "arguments must be a JSON object"),
])
def test_every_failure_is_a_result_not_an_exception(call, problem):
    kit = Toolkit([get_current_weather, get_forecast, explode])
    [result] = kit.run_all([call])
    assert not result.ok and problem in result.error and result.content.startswith("Error: ")


def test_gentle_coercion_of_what_small_models_write():
    kit = Toolkit([get_forecast])
    [result] = kit.run_all([ToolCall("1", "get_forecast", {"city": "Oslo", "days": "2"})])
    assert result.ok and len(json.loads(result.content)) == 2
    [result] = kit.run_all([ToolCall("1", "get_forecast", {"city": "Oslo", "days": 1.0})])
    assert result.ok and len(json.loads(result.content)) == 1
    [result] = kit.run_all([ToolCall("1", "get_forecast", {"city": "Oslo", "days": None})])
    assert result.ok and len(json.loads(result.content)) == 3  # null: the default


def test_a_hanging_tool_times_out_and_the_others_answer():
    kit = Toolkit([hang, get_forecast], timeout=0.5)
    try:
        slow, fast = kit.run_all([ToolCall("1", "hang", {}), ToolCall("2", "get_forecast", {"city": "Rome"})])
    finally:
        release_hung()
    assert not slow.ok and slow.error == "timed out after 0.5s"
    assert fast.ok


def test_service_toolkit_and_service_response_status():
    kit = ServiceToolkit()
    kit.add(search_web, api_key="secret")
    assert list(kit.json_schemas) == ["search_web"] and "search_web(query: string)" in kit.tools_instruction
    [ok] = kit.run_all([ToolCall("1", "search_web", {"query": "tea"})])
    assert ok.ok and json.loads(ok.content) == ["result for tea"]
    bad = ServiceToolkit()
    bad.add(search_web, api_key="wrong")
    [failed] = bad.run_all([ToolCall("1", "search_web", {"query": "tea"})])
    assert not failed.ok and failed.error == "bad api key"
    assert ServiceResponse(ServiceExecStatus.SUCCESS, 1).status == ServiceExecStatus.SUCCESS
    kit.add(lambda query: query)
    with pytest.raises(ValueError, match="already in the toolkit"):
        kit.add(lambda query: query)  # another function of a name already taken (0.1.6 refuses it too)


# -- the text protocol ---------------------------------------------------------------------
TEXT = f'Let me look. {OPEN}{{"name": "get_forecast", "arguments": {{"city": "Oslo"}}}}{CLOSE} Done <b>.'


def _run_filter(pieces):
    tags = TagFilter()
    shown = [tags.feed(p) for p in pieces] + [tags.finish()]
    return shown, tags


def test_tag_filter_every_split_point_gives_the_same_text_and_call():
    for at in range(1, len(TEXT)):
        shown, tags = _run_filter([TEXT[:at], TEXT[at:]])
        assert "".join(shown) == "Let me look.  Done <b>.", at
        assert tags.blocks == ['{"name": "get_forecast", "arguments": {"city": "Oslo"}}'], at
        for piece in shown:
            assert "<tool" not in piece and "{" not in piece and "</" not in piece, (at, piece)


def test_tag_filter_character_by_character_and_random_splits():
    rng = random.Random(7)
    for trial in range(200):
        pieces, rest = [], TEXT * 2
        while rest:
            size = 1 if trial == 0 else rng.randint(1, 9)
            pieces.append(rest[:size])
            rest = rest[size:]
        shown, tags = _run_filter(pieces)
        assert "".join(shown) == "Let me look.  Done <b>." * 2
        assert len(tags.blocks) == 2 and not tags.in_call


def test_tag_filter_streams_text_before_the_tag_at_once():
    tags = TagFilter()
    assert tags.feed("Hello there, ") == "Hello there, "
    assert tags.feed("I will <") == "I will "  # only the possible start of a tag waits
    assert tags.feed("b>bold") == "<b>bold"
    assert tags.feed(" <tool_c") == " "
    assert tags.feed("all>{") == "" and tags.in_call
    assert tags.feed('"name": "x"}') == "" and tags.finish() == ""
    assert tags.open_block == '{"name": "x"}'  # unterminated, kept for parsing


def test_parse_call_accepts_what_models_write_and_names_what_is_wrong():
    call, problem = parse_call('{"name": "f", "arguments": {"a": 1}}', "c1")
    assert problem is None and (call.id, call.name, call.arguments) == ("c1", "f", {"a": 1})
    call, _ = parse_call('```json\n{"name": "f", "arguments": "{\\"a\\": 2}"}\n```', "c2")
    assert call.arguments == {"a": 2}
    call, _ = parse_call('{"name": "f"}', "c3")
    assert call.arguments == {}
    assert "not valid JSON" in parse_call('{"name": "f", "arguments": {', "c")[1]
    assert '"name"' in parse_call('{"arguments": {}}', "c")[1]
    assert "not valid JSON" in parse_call('{"name": "f", "arguments": "{bad"}', "c")[1]


def test_instructions_and_call_schema_name_every_tool():
    kit = Toolkit([get_current_weather, get_forecast])
    text = instructions(kit.schemas())
    assert 'get_current_weather(city: string, unit: "celsius"|"fahrenheit" (optional))' in text
    assert "get_forecast(city: string, days: integer (optional))" in text and OPEN in text
    schema = call_schema(kit.schemas())
    assert [o["properties"]["name"] for o in schema["anyOf"]] == [{"const": "get_current_weather"},
                                                                  {"const": "get_forecast"}]
    assert "description" not in json.dumps(schema)
    single = call_schema(kit.schemas(["get_forecast"]))
    assert single["properties"]["arguments"]["required"] == ["city"]


def test_toolkit_travels_by_pickle():
    import cloudpickle

    kit = Toolkit([get_current_weather], timeout=3)
    copy = cloudpickle.loads(cloudpickle.dumps(kit))
    assert copy.names == ["get_current_weather"] and copy.timeout == 3
    [result] = copy.run_all([ToolCall("1", "get_current_weather", {"city": "Lima"})])
    assert result.ok and json.loads(result.content)["city"] == "Lima"


def test_string_annotations_are_read_without_the_functions_module_globals():
    # what a tool shipped by value (cloudpickle) to a server looks like: string
    # annotations whose names (Literal) are not among the function's globals
    namespace: dict = {}
    exec(  # noqa: S102  (a function defined without `Literal` in its globals)
        "def weather(city: 'str', unit: \"Literal['c', 'f']\" = 'c', days: 'int' = 1, when: 'Nonsense' = None):\n"
        "    '''Now.'''\n",
        namespace,
    )
    props = function_schema(namespace["weather"])["function"]["parameters"]["properties"]
    assert props["city"] == {"type": "string"} and props["days"]["type"] == "integer"
    assert props["unit"]["enum"] == ["c", "f"]
    assert "type" not in props["when"]  # an annotation that cannot be read: no type, not a failure

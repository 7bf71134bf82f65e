"""Tools for the function-calling tests (importable by agent servers, like the other test agents)."""
from __future__ import annotations

import os
import threading
import time
from typing import Literal

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.service import ServiceExecStatus, ServiceResponse

SPANS: list = []  # (tool, start, end) of the calls run in this process
_RELEASE = threading.Event()


def get_current_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
    """Get the current weather in a city.

    Args:
        city: Name of the city, e.g. Tokyo.
        unit: Temperature unit.
    """
    start = time.monotonic()
    time.sleep(0.2)  # a tool that takes a while: parallel calls overlap
    SPANS.append(("get_current_weather", start, time.monotonic()))
    temp = 21 if unit == "celsius" else 70
    return {"city": city, "temperature": temp, "unit": unit, "sky": "sunny", "pid": os.getpid()}


def recording_weather():
    """(get_current_weather, calls): a weather tool that records the cities it was asked about."""
    calls = []

    def get_current_weather(city: str) -> dict:  # pylint: disable=redefined-outer-name
        """Get the current weather in a city.

        Args:
            city: Name of the city.
        """
        calls.append(city)
        return {"city": city, "temperature_c": 21, "sky": "sunny"}

    return get_current_weather, calls


def get_forecast(city: str, days: int = 3) -> list:
    """Get the weather forecast for the next days.

    Args:
        city: Name of the city.
        days: How many days, 1 to 7.
    """
    start = time.monotonic()
    time.sleep(0.2)
    SPANS.append(("get_forecast", start, time.monotonic()))
    return [{"day": d + 1, "sky": "cloudy", "high_c": 18 + d} for d in range(days)]


def explode(reason: str) -> str:
    """A tool that always fails.

    Args:
        reason: What to complain about.
    """
    raise RuntimeError(f"the tool broke: {reason}")


def hang(seconds: float = 3600.0) -> str:
    """A tool that does not come back (until released).

    Args:
        seconds: How long to wait.
    """
    _RELEASE.wait(seconds)
    return "woke up"


def release_hung() -> None:
    """Wake the hung calls; later calls hang again."""
    global _RELEASE
    released, _RELEASE = _RELEASE, threading.Event()
    released.set()


def search_web(query: str, api_key: str) -> ServiceResponse:
    """Search the web (AgentScope 0.1.6 style: returns a ServiceResponse).

    Args:
        query: What to look for.
        api_key: Preset by the toolkit.
    """
    if api_key != "secret":
        return ServiceResponse(ServiceExecStatus.ERROR, "bad api key")
    return ServiceResponse(ServiceExecStatus.SUCCESS, [f"result for {query}"])


class PidAgent(AgentBase):
    """Tells which process it runs in."""

    def reply(self, x=None):
        from agentscope_rpc.message import Msg

        return Msg(self.name, str(os.getpid()), "assistant")

"""Werewolf across machines: six distributed players, a plain-Python moderator.

    python examples/distributed/werewolf/main.py                 # 3 local child servers, embedded model
    python examples/distributed/werewolf/main.py --servers 2 --rounds 2 --seed 7
    python examples/distributed/werewolf/main.py --hosts 10.0.0.2:7100,10.0.0.3:7100 --token-file ~/.agentscope_rpc/token
    python examples/distributed/werewolf/main.py --model-config my_openai.json
    python examples/distributed/werewolf/main.py --policy        # deterministic stand-in model, no LLM

Players are placed round-robin over the servers.  Everything they say streams
to this terminal as they say it; the moderator's lines are printed too
(including what only the werewolves or the seer are told -- you are the
audience, not a player).  Exit status: 0 game finished, 3 players lost
(a server died), 4 other game failure.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `werewolf` is a package next to this file
try:
    import agentscope_rpc
except ImportError:  # a source checkout that was not pip-installed
    sys.path.insert(0, str(HERE.parents[2]))
    import agentscope_rpc

from agentscope_rpc.agents import AgentBase
from agentscope_rpc.message import Msg
from agentscope_rpc.server import RpcAgentServerLauncher

from werewolf.game import DRAW, GameError, GameResult, Moderator, PlayersLostError, assign_roles
from werewolf.players import EMBEDDED_CONFIG, PolicyModel, WerewolfPlayer

NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
TOKEN_ENV = "AGENTSCOPE_RPC_TOKEN"
EXIT_LOST, EXIT_FAILED = 3, 4


def parse_args(argv: list | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Werewolf with distributed agents.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--servers", type=int, default=3, help="local child servers to start (default 3)")
    where.add_argument("--hosts", help="running agent servers, host:port,host:port,...")
    parser.add_argument("--token", help=f"auth token of the --hosts servers (prefer --token-file or ${TOKEN_ENV})")
    parser.add_argument("--token-file", help="file holding the auth token of the --hosts servers")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model-config", help="JSON file with a model config (e.g. openai_chat); default: embedded SmolLM2")
    model.add_argument("--policy", action="store_true", help="deterministic stand-in model instead of an LLM")
    parser.add_argument("--model-config-name", help="which config of --model-config to use (default: the first)")
    parser.add_argument("--max-tokens", type=int, default=64, help="embedded model: tokens per answer")
    parser.add_argument("--threads", type=int, help="embedded model: threads per server (default: half the cores)")
    parser.add_argument("--rounds", type=int, default=3, help="nights and days before a draw (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="roles, tie breaks and fallbacks (default 0)")
    parser.add_argument("--policy-delay", type=float, default=0.0, help=argparse.SUPPRESS)  # tests: slow policy
    parser.add_argument("--call-timeout", type=float, default=600.0, help="seconds one player may take")
    parser.add_argument("--sse", type=int, metavar="PORT", help="serve a web page instead: each visit plays a game live")
    return parser.parse_args(argv)


def read_token(args: argparse.Namespace) -> str:
    if args.token:
        return args.token
    if args.token_file:
        return Path(args.token_file).expanduser().read_text(encoding="utf-8").strip()
    return os.environ.get(TOKEN_ENV, "")


def model_configs(args: argparse.Namespace) -> list:
    """One model config per seat (they differ only in their seed)."""
    if args.model_config:
        loaded = json.loads(Path(args.model_config).read_text(encoding="utf-8"))
        loaded = loaded if isinstance(loaded, list) else [loaded]
        chosen = [c for c in loaded if c.get("config_name") == args.model_config_name] if args.model_config_name else loaded
        if not chosen:
            sys.exit(f"no config named {args.model_config_name!r} in {args.model_config}")
        return [dict(chosen[0]) for _ in NAMES]
    if args.policy:
        return [
            {"config_name": f"policy-{i}", "model_type": PolicyModel.model_type,
             "seed": args.seed * 100 + i, "delay": args.policy_delay}
            for i in range(len(NAMES))
        ]
    configs = []
    for i in range(len(NAMES)):
        config = json.loads(json.dumps(EMBEDDED_CONFIG))
        config["n_threads"] = args.threads  # None: the runtime's default (half the cores)
        config["generate_args"].update(max_tokens=args.max_tokens, seed=args.seed * 100 + i)
        configs.append(config)
    return configs


def parse_hosts(text: str) -> list:
    endpoints = []
    for item in text.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            sys.exit(f"--hosts: expected host:port, got {item!r}")
        endpoints.append((host.strip("[]"), int(port)))
    return endpoints


def play(args: argparse.Namespace) -> GameResult:
    """Start (or reach) the servers, seat the players, run one game, clean up."""
    launchers: list = []
    players: list = []
    if args.hosts:
        token = read_token(args)
        endpoints = parse_hosts(args.hosts)
    else:
        token = secrets.token_urlsafe(32)  # loopback child servers, still authenticated
        print(f"starting {args.servers} local agent server(s) ...", flush=True)
        for _ in range(max(1, args.servers)):
            launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token)
            launcher.launch(in_subprocess=True)
            launchers.append(launcher)
        endpoints = [("127.0.0.1", launcher.port) for launcher in launchers]
    roles = assign_roles(NAMES, random.Random(args.seed))
    configs = model_configs(args)
    voice = AgentBase("Moderator", use_memory=False)  # local: its lines reach the same printer
    lost: set = set()
    try:
        for i, name in enumerate(NAMES):
            host, port = endpoints[i % len(endpoints)]
            print(f"  {name:<6} {roles[name]:<9} on {host}:{port}", flush=True)
            players.append(WerewolfPlayer(
                name, roles[name], NAMES, model_config=configs[i],
                to_dist={"host": host, "port": port, "token": token},
            ))
        moderator = Moderator(
            players, roles, max_rounds=args.rounds, seed=args.seed,
            announce=lambda text: voice.speak(Msg("Moderator", text, role="system")),
            call_timeout=args.call_timeout,
        )
        return moderator.run()
    except PlayersLostError as err:
        lost = set(err.players)
        raise
    finally:
        if not launchers:  # running servers: leave them as we found them
            for player in players:
                if player.name not in lost:
                    try:
                        player.delete()
                    except Exception:  # pylint: disable=broad-except
                        pass  # best effort: the game's own outcome matters more
        stopping = [threading.Thread(target=launcher.shutdown) for launcher in launchers]
        for thread in stopping:  # in parallel: each may give running calls a grace period
            thread.start()
        for thread in stopping:
            thread.join()


def summary(result: GameResult) -> str:
    cast = ", ".join(f"{n} ({r})" for n, r in result.roles.items())
    if result.winner == DRAW:
        verdict = f"draw -- {result.reason}"
    else:
        verdict = f"the {result.winner} win"
    return (
        f"Roles: {cast}\nSurvivors: {', '.join(result.alive)}\n"
        f"=== Game over after {result.rounds} round(s): {verdict} ==="
    )


def serve_page(args: argparse.Namespace) -> int:
    """`--sse PORT`: each visit to the page plays one game, streamed live."""
    from agentscope_rpc.sse import serve
    from agentscope_rpc.streaming import put_into_stream

    def werewolf(rounds: str = str(args.rounds), seed: str = str(args.seed)) -> None:
        game_args = argparse.Namespace(**{**vars(args), "rounds": int(rounds), "seed": int(seed)})
        put_into_stream(summary(play(game_args)))

    serve(werewolf, port=args.sse)
    return 0


def main(argv: list | None = None) -> int:
    args = parse_args(argv)
    agentscope_rpc.init(logger_level="WARNING")
    if args.sse:
        return serve_page(args)
    try:
        result = play(args)
    except PlayersLostError as err:
        print(f"\nGAME ABORTED: {err}", file=sys.stderr, flush=True)
        return EXIT_LOST
    except GameError as err:
        print(f"\nGAME FAILED: {err}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    print("\n" + summary(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

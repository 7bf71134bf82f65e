"""Werewolf across machines: six distributed players, a plain-Python moderator.

    python examples/distributed/werewolf/main.py                 # 3 local child servers, embedded model
    python examples/distributed/werewolf/main.py --servers 2 --rounds 2 --seed 7
    python examples/distributed/werewolf/main.py --hosts 10.0.0.2:7100,10.0.0.3:7100 --token-file ~/.agentscope_rpc/token
    python examples/distributed/werewolf/main.py --model-config my_openai.json
    python examples/distributed/werewolf/main.py --policy        # deterministic stand-in model, no LLM
    python examples/distributed/werewolf/main.py --sse 8000      # a live page: http://127.0.0.1:8000/
    python examples/distributed/werewolf/main.py --transcript game.jsonl   # then: --replay game.jsonl
    python examples/distributed/werewolf/main.py --policy --tts speech     # speech/<player>/0001.wav, ...

Players are placed round-robin over the servers.  The game runs as an
`@pipeline` app: everything said (the players' talk token by token, the
moderator's narration, phase markers, the result) is one stream, shown on
this terminal, written to `--transcript` and served by `--sse`.  You are the
audience, not a player: you also see what only the werewolves, the seer or
the witch are told.  Exit status: 0 game finished, 2 bad arguments,
3 a server unreachable or players lost (a server died), 4 other failure,
130 interrupted; each failure is one line on stderr.
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
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `werewolf` is a package next to this file
try:
    import agentscope_rpc
except ImportError:  # a source checkout that was not pip-installed
    sys.path.insert(0, str(HERE.parents[2]))
    import agentscope_rpc

from agentscope_rpc import runtime
from agentscope_rpc.agents import AgentBase
from agentscope_rpc.console import ConsolePrinter, route_logging
from agentscope_rpc.exception import AgentScopeRpcError, AgentServerNotAliveError
from agentscope_rpc.message import Msg
from agentscope_rpc.server import RpcAgentServerLauncher
from agentscope_rpc.streaming import pipeline, put_into_stream

from werewolf.game import MODERATOR, GameError, GameResult, Line, Moderator, PlayersLostError, assign_roles
from werewolf.players import DEFAULT_MODEL, MODELS, PolicyModel, WerewolfPlayer
from werewolf.prompts import DEFAULT_PROMPTS, PROMPT_SETS
from werewolf.voices import close_speaker, open_speaker, tts_problem

NAMES = ["Alice", "Bob", "Carol", "Dave", "Eve", "Frank"]
TOKEN_ENV = "AGENTSCOPE_RPC_TOKEN"
EXIT_USAGE, EXIT_LOST, EXIT_FAILED = 2, 3, 4
CLEANUP_GRACE_S = 20.0  # Ctrl-C: how long the game's thread may take to stop its servers


class UsageError(Exception):
    """A bad flag or file: one line, exit status 2."""


def parse_args(argv: Optional[list]) -> argparse.Namespace:
    """The command line (see README "Flags")."""
    parser = argparse.ArgumentParser(
        description="Werewolf with distributed agents.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--servers", type=int, default=3, help="local child servers to start")
    where.add_argument("--hosts", help="running agent servers, host:port,host:port,...")
    where.add_argument("--ray", metavar="ADDRESS",
                       help="start the servers on a Ray cluster (ray.init address, e.g. auto or host:6379); "
                            "--ray-servers of them, spread over its nodes")
    parser.add_argument("--ray-servers", type=int, default=3, help="agent servers to start with --ray")
    parser.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs each --ray server reserves on its node")
    parser.add_argument("--ray-node-ip", help=argparse.SUPPRESS)  # tests: this driver's address on a loopback cluster
    parser.add_argument("--token", help=f"auth token of the --hosts servers (prefer --token-file or ${TOKEN_ENV})")
    parser.add_argument("--token-file", help="file holding the auth token of the --hosts servers")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL, help="embedded model")
    model.add_argument("--model-config", help="JSON file with a model config (e.g. openai_chat) instead")
    model.add_argument("--policy", action="store_true", help="deterministic stand-in model instead of an LLM")
    parser.add_argument("--model-config-name", help="which config of --model-config to use (default: the first)")
    parser.add_argument("--prompts", choices=sorted(PROMPT_SETS), default=DEFAULT_PROMPTS, help="prompt set")
    parser.add_argument("--max-tokens", type=int, default=40,
                        help="talk budget per speech, any backend (the sentence is finished past it)")
    parser.add_argument("--threads", type=int, help="embedded model: threads per server (default: half the cores)")
    parser.add_argument("--rounds", type=int, default=3, help="nights and days before a draw")
    parser.add_argument("--seed", type=int, default=0, help="roles, tie breaks and fallbacks")
    parser.add_argument("--policy-delay", type=float, default=0.0, help=argparse.SUPPRESS)  # tests: slow policy
    parser.add_argument("--call-timeout", type=float, default=600.0, help="seconds one player may take")
    parser.add_argument("--sse", type=int, metavar="PORT", help="serve a live page instead; each visit plays a game")
    parser.add_argument("--reveal", action="store_true", help="show the roles from the start (page and terminal)")
    parser.add_argument("--transcript", metavar="FILE", help="write every event of the game to FILE (JSON lines)")
    parser.add_argument("--tts", metavar="DIR",
                        help="speech out: each sentence said (players and moderator, one espeak-ng voice each) as "
                             "DIR/<name>/NNNN.wav, listed in DIR/manifest.jsonl, played too where an audio output "
                             "exists; needs espeak-ng (apt-get install -y espeak-ng); with --sse each game adds to DIR")
    parser.add_argument("--replay", metavar="FILE", help="replay a transcript (to the terminal, or the page with --sse)")
    parser.add_argument("--quiet", action="store_true", help="print only the result")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto", help="terminal colours")
    return parser.parse_args(argv)


def read_token(args: argparse.Namespace) -> str:
    """The --hosts servers' token: flag, file or environment."""
    if args.token:
        return args.token
    if args.token_file:
        try:
            return Path(args.token_file).expanduser().read_text(encoding="utf-8").strip()
        except OSError as err:
            raise UsageError(f"--token-file: {err.strerror}: {args.token_file}") from None
    return os.environ.get(TOKEN_ENV, "")


def model_configs(args: argparse.Namespace) -> list:
    """One model config per seat (they differ only in their seed)."""
    if args.model_config:
        try:
            loaded = json.loads(Path(args.model_config).read_text(encoding="utf-8"))
        except OSError as err:
            raise UsageError(f"--model-config: {err.strerror}: {args.model_config}") from None
        except ValueError as err:
            raise UsageError(f"--model-config: {args.model_config} is not JSON: {err}") from None
        loaded = loaded if isinstance(loaded, list) else [loaded]
        chosen = [c for c in loaded if c.get("config_name") == args.model_config_name] if args.model_config_name \
            else loaded
        if not chosen or not isinstance(chosen[0], dict) or "model_type" not in chosen[0]:
            raise UsageError(f"--model-config: no usable config in {args.model_config}")
        return [dict(chosen[0]) for _ in NAMES]
    if args.policy:
        return [
            {"config_name": f"policy-{i}", "model_type": PolicyModel.model_type,
             "seed": args.seed * 100 + i, "delay": args.policy_delay}
            for i in range(len(NAMES))
        ]
    configs = []
    for i in range(len(NAMES)):
        config = json.loads(json.dumps(MODELS[args.model]))
        config["n_threads"] = args.threads  # None: the runtime's default (half the cores)
        config["generate_args"].update(seed=args.seed * 100 + i)
        configs.append(config)
    return configs


def parse_hosts(text: str) -> list:
    """`host:port,host:port` -> [(host, port), ...]."""
    endpoints = []
    for item in text.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--hosts: expected host:port, got {item!r}")
        endpoints.append((host.strip("[]"), int(port)))
    return endpoints


def badge(role: str, reveal: bool) -> str:
    """What the audience sees of a player's role before the end."""
    return role if reveal else "player"


def play(args: argparse.Namespace, log: Any = print) -> GameResult:
    """Start (or reach) the servers, seat the players, run one game, clean up.

    Narration is spoken by a local voice (so it reaches the same printer or
    app stream as the players' talk); phases and the result are put into the
    stream as structured data.
    """
    launchers: list = []
    players: list = []
    fleet = None
    configs = model_configs(args)
    if args.ray:
        from agentscope_rpc.deploy.ray import start_ray_fleet  # the [ray] extra

        log(f"starting {args.ray_servers} agent server(s) on the Ray cluster at {args.ray} ...")
        fleet = start_ray_fleet(args.ray, servers=args.ray_servers, cpus_per_server=args.ray_cpus, ray_init_options=(
            {"_node_ip_address": args.ray_node_ip} if args.ray_node_ip else None))
        token = fleet.token
        endpoints = []  # the fleet places each player (round-robin over its servers)
    elif args.hosts:
        token = read_token(args)
        endpoints = parse_hosts(args.hosts)
    else:
        token = secrets.token_urlsafe(32)  # loopback child servers, still authenticated
        log(f"starting {args.servers} local agent server(s) ...")
        for _ in range(max(1, args.servers)):
            launcher = RpcAgentServerLauncher(host="127.0.0.1", port=0, token=token)
            launchers.append(launcher)
            launcher.launch(in_subprocess=True)
        endpoints = [("127.0.0.1", launcher.port) for launcher in launchers]
    roles = assign_roles(NAMES, random.Random(args.seed))
    voice = AgentBase(MODERATOR, use_memory=False)
    lost: set = set()
    speaker = None
    try:
        if getattr(args, "tts", None):
            speaker = open_speaker(args.tts, [MODERATOR] + NAMES, voice)
        cast = []
        for i, name in enumerate(NAMES):
            where = fleet if fleet is not None else dict(zip(("host", "port"), endpoints[i % len(endpoints)]),
                                                           token=token)
            player = WerewolfPlayer(
                name, roles[name], NAMES, model_config=configs[i], prompts=args.prompts,
                talk_tokens=args.max_tokens, to_dist=where,
            )
            players.append(player)
            address = player.endpoint.address
            log(f"  {name:<6} {badge(roles[name], args.reveal):<9} on {address}")
            cast.append({"name": name, "badge": badge(roles[name], args.reveal), "where": address})
        for player in players:  # created in parallel (pipelined); a server that refuses us says so here
            player.wait_ready(timeout=args.call_timeout)
        if speaker is not None:  # the proxies' hooks run here, on each chunk relayed from the servers
            speaker.attach(*players)
        put_into_stream({"type": "cast", "title": "Werewolf", "players": cast,
                         "moderator": MODERATOR, "seed": args.seed})

        def narrate(line: Line) -> None:
            if line.kind == "phase":
                put_into_stream({"type": "phase", "title": line.text, "round": line.round})
                return
            role = "system" if line.speaker == MODERATOR else "assistant"
            voice.speak(Msg(line.speaker, line.text, role=role, metadata={"narration": line.to_dict()}))

        moderator = Moderator(players, roles, max_rounds=args.rounds, seed=args.seed, narrate=narrate,
                              call_timeout=args.call_timeout, prompts=args.prompts)
        result = moderator.run()
        put_into_stream(result_data(result))
        return result
    except PlayersLostError as err:
        lost = set(err.players)
        raise
    finally:
        if speaker is not None:
            close_speaker(speaker)
        if not launchers and fleet is None:  # running servers: leave them as we found them
            for player in players:
                if player.name not in lost:
                    try:
                        player.delete()
                    except Exception:  # pylint: disable=broad-except
                        pass  # best effort: the game's own outcome matters more
        if fleet is not None:
            fleet.stop()
        stopping = [threading.Thread(target=launcher.shutdown) for launcher in launchers]
        for thread in stopping:  # in parallel: each may give running calls a grace period
            thread.start()
        for thread in stopping:
            thread.join()


def result_data(result: GameResult) -> dict:
    """The end of a game as structured data (the page's end state; the story checker's facts)."""
    return {
        "type": "result", "title": summary_title(result), "winner": result.winner, "reason": result.reason,
        "rounds": result.rounds, "roles": result.roles, "alive": result.alive, "fallbacks": result.fallbacks,
        "events": [[kind, rnd, details] for kind, rnd, details in result.events],
    }


def summary_title(result: GameResult) -> str:
    """One line: who won after how many rounds."""
    verdict = f"draw -- {result.reason}" if result.winner == "draw" else f"the {result.winner} win"
    return f"Game over after {result.rounds} round(s): {verdict}"


@pipeline(chunks=True)
def werewolf_game(args: argparse.Namespace) -> None:
    """One game as an app stream (terminal, transcript and page all read it)."""
    play(args, log=lambda text: None)


def run_terminal(args: argparse.Namespace, printer: ConsolePrinter) -> int:
    """Play one game, showing the stream live (and recording it with --transcript)."""
    from agentscope_rpc.live_events import EventEncoder
    from agentscope_rpc.transcript import TranscriptWriter

    writer = TranscriptWriter(args.transcript) if args.transcript else None
    encoder = EventEncoder()
    result: Optional[dict] = None
    if not args.quiet and not args.hosts:
        printer.print(f"starting {args.servers} local agent server(s) ...")
    items = werewolf_game(args)
    try:
        for item in items:
            for event in encoder.encode(item):
                if writer:
                    writer.write(event)
                kind = event.data.get("type") if event.type == "put" and isinstance(event.data, dict) else None
                if kind == "result":
                    result = event.data
                if args.quiet:
                    continue
                if kind == "cast":  # the seating, one line per player
                    for player in event.data["players"]:
                        printer.print(f"  {player['name']:<6} {player['badge']:<9} on {player['where']}")
                elif kind == "result":
                    printer.print(f"\nSurvivors: {', '.join(result['alive']) or 'nobody'}")
                    printer.print(f"=== {result['title']} ===")
                else:
                    printer.show_event(event)
    except PlayersLostError as err:
        _finish(writer, encoder, "error", err)
        printer.print(f"GAME ABORTED: {err}", file=sys.stderr)
        return EXIT_LOST
    except (GameError, UsageError) as err:
        _finish(writer, encoder, "error", err)
        printer.print(f"GAME FAILED: {err}", file=sys.stderr)
        return EXIT_USAGE if isinstance(err, UsageError) else EXIT_FAILED
    except AgentScopeRpcError as err:  # e.g. a server refusing our token, or not there at all
        _finish(writer, encoder, "error", err)
        first = str(err).splitlines()[0] if str(err) else ""
        printer.print(f"GAME FAILED: {type(err).__name__}: {first}", file=sys.stderr)
        return EXIT_LOST if isinstance(err, AgentServerNotAliveError) else EXIT_FAILED
    except KeyboardInterrupt:
        _finish(writer, encoder, "cancelled", None)
        items.close()  # cancels the game; its thread stops the servers
        for thread in threading.enumerate():
            if thread.name == "app-werewolf_game":
                thread.join(CLEANUP_GRACE_S)
        raise
    _finish(writer, encoder, "completed", None)
    if args.quiet and result:
        printer.print(result["title"])
    elif args.tts:
        printer.print(f"Speech: WAV files in {args.tts}/<name>/, listed in {args.tts}/manifest.jsonl")
    return 0


def _finish(writer: Any, encoder: Any, status: str, err: Optional[BaseException]) -> None:
    if writer is None:
        return
    for event in encoder.finish(status, err):
        writer.write(event)
    writer.close()


def serve_page(args: argparse.Namespace) -> int:
    """`--sse PORT`: each visit to the page plays one game, streamed live."""
    from agentscope_rpc.sse import serve

    if args.replay:
        serve(None, port=args.sse, replay=args.replay, title="Werewolf")
        return 0

    @pipeline(chunks=True)
    def werewolf(rounds: str = str(args.rounds), seed: str = str(args.seed), reveal: str = "") -> None:
        game_args = argparse.Namespace(**{**vars(args), "rounds": int(rounds), "seed": int(seed),
                                          "reveal": args.reveal or reveal in ("1", "true", "yes")})
        play(game_args, log=lambda text: None)

    serve(werewolf, port=args.sse, transcript=args.transcript, title="Werewolf")
    return 0


def main(argv: Optional[list] = None) -> int:
    """Entry point; returns the exit status."""
    args = parse_args(argv)
    agentscope_rpc.init(logger_level="WARNING")
    route_logging()  # log lines land on their own line, never inside a streamed one
    printer = ConsolePrinter(color=args.color, styles={MODERATOR: "bold"})
    runtime.default().set_printer(printer)
    try:
        if args.tts:
            if args.replay:
                raise UsageError("--tts voices a game as it is played, not a --replay")
            problem = tts_problem(args.tts)
            if problem:
                raise UsageError(problem)
        if args.sse:
            return serve_page(args)
        if args.replay:
            from agentscope_rpc.transcript import replay_to_terminal

            replay_to_terminal(args.replay, printer)
            return 0
        model_configs(args)  # bad flags fail here, before any server starts
        if args.hosts:
            parse_hosts(args.hosts)
            read_token(args)
        return run_terminal(args, printer)
    except UsageError as err:
        printer.print(f"werewolf: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        runtime.default().interrupt()  # exit then stops at once instead of draining calls
        printer.print("werewolf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

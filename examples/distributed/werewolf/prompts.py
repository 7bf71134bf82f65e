"""What the players are told: system prompts, the moderator's lines, answer formats.

Short on purpose: the embedded model (SmolLM2-135M) has a 2048-token window
and follows short, concrete instructions best.  Every request for a decision
ends with an `Options: A, B, C.` line; the deterministic policy model
(`players.PolicyModel`) reads its choices from that line.
"""
from __future__ import annotations

OPTIONS_PREFIX = "Options:"
NO_ONE = "none"

RULES = (
    "You are {name}, a player in a game of Werewolf. The players are {players}. "
    "Two of them are werewolves; the others are two villagers, a seer and a witch. "
    "Every night the werewolves kill one player. Every day all living players talk, "
    "then vote to eliminate one suspect. The village wins when both werewolves are out; "
    "the werewolves win when they are as many as the others."
)

ROLE_NOTES = {
    "werewolf": (
        "Your secret role: WEREWOLF. At night you and your partner choose a victim. "
        "By day, never admit what you are; point at other players."
    ),
    "villager": (
        "Your secret role: VILLAGER. Listen to what people say and vote out the werewolves."
    ),
    "seer": (
        "Your secret role: SEER. Each night you learn whether one player is a werewolf. "
        "Use what you learn to guide the village."
    ),
    "witch": (
        "Your secret role: WITCH. You own one healing potion, which can save the night's "
        "victim (not yourself), and one poison, which kills a player. Each works once, "
        "and you use at most one per night."
    ),
}

# JSON answer formats, per decision; `{example}` is a legal name
ANSWER_FORMATS = {
    "kill": ('Answer in JSON only, like {{"speak": "We take {example}.", "target": "{example}"}}'),
    "check": ('Answer in JSON only, like {{"speak": "I check {example}.", "target": "{example}"}}'),
    "vote": ('Answer in JSON only, like {{"speak": "I vote for {example}.", "target": "{example}"}}'),
    "witch": (
        'Answer in JSON only, like {{"speak": "I save the victim.", "heal": true, "poison": "{none}"}} '
        'or {{"speak": "I poison {example}.", "heal": false, "poison": "{example}"}}'
    ),
}
REQUIRED_KEYS = {
    "kill": ["speak", "target"],
    "check": ["speak", "target"],
    "vote": ["speak", "target"],
    "witch": ["speak", "heal", "poison"],
}

# -- the moderator's lines -----------------------------------------------------------
NIGHT = "Night {round} falls. Everybody closes their eyes."
WOLVES_WAKE = (
    "(werewolves only) {wolves}: you are the werewolves. Whisper together about "
    "whom to kill tonight. Possible victims: {options}."
)
WOLF_DISCUSS = "{name}, whisper to your partner in one short sentence: who should die tonight?"
WOLF_KILL = "{name}, choose tonight's victim. " + OPTIONS_PREFIX + " {options}."
WOLVES_CHOSE = "(werewolves only) The pack has chosen {victim}."
WOLVES_NO_CHOICE = "(werewolves only) The pack could not agree; nobody is attacked tonight."
WITCH_ASK = (
    "{name}, {attack} Healing potion: {heal}. Poison: {poison}. You may heal the victim "
    "or poison one player (not both). " + OPTIONS_PREFIX + " {options}."
)
SEER_ASK = "{name}, choose one player to look into. " + OPTIONS_PREFIX + " {options}."
SEER_RESULT = "(seer only) {target} is {verdict}."
DAY = "Day {round}. {deaths} Still alive: {alive}."
DAY_DISCUSS = "{name}, your turn: in one or two short sentences, who do you suspect, and why?"
DAY_VOTE = (
    "{name}, vote to eliminate one player, or " + NO_ONE + " to abstain. "
    + OPTIONS_PREFIX + " {options}."
)
VOTE_RESULT = "Votes: {tally}. {outcome}"



def list_names(names: list) -> str:
    return ", ".join(names) if names else "nobody"

"""What the players are told, and what the audience is told.

Two prompt sets for the players (`PROMPT_SETS`), measured against each other
on the embedded model (see README "Models and prompts"):

* `plain` -- the prompts of the first version of this example: rules, role,
  "who do you suspect?", and JSON answers with a `speak` line;
* `coached` -- the same rules, but each turn repeats the facts a tiny model
  forgets (who is alive, what the seer learned, who your partner is), asks
  for one sentence naming one living player, and decisions are a bare
  `{"target": ...}` object.

Every request for a decision ends with an `Options: A, B, C.` line; the
deterministic policy model (`players.PolicyModel`) reads its choices there.

The narration templates below are the audience's view (the story checker,
`story.py`, parses exactly these sentences): each line about a private action
is derived from the decision itself, never from free text.
"""
from __future__ import annotations

OPTIONS_PREFIX = "Options:"
NO_ONE = "none"

_RULES = (
    "You are {name}, a player in a game of Werewolf. The players are {players}. "
    "Two of them are werewolves; the others are two villagers, a seer and a witch. "
    "Every night the werewolves kill one player. Every day all living players talk, "
    "then vote to eliminate one suspect. The village wins when both werewolves are out; "
    "the werewolves win when they are as many as the others."
)

_ROLE_NOTES = {
    "werewolf": (
        "Your secret role: WEREWOLF. At night you and your partner choose a victim. "
        "By day, never admit what you are; point at other players."
    ),
    "villager": "Your secret role: VILLAGER. Listen to what people say and vote out the werewolves.",
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

PLAIN = {
    "rules": _RULES,
    "roles": _ROLE_NOTES,
    "wolf_discuss": "{name}, whisper to your partner in one short sentence: who should die tonight?",
    "day_discuss": "{name}, your turn: in one or two short sentences, who do you suspect, and why?",
    "remember": {"kill": "We take {target}.", "check": "I check {target}.", "vote": "I vote for {target}.",
                 "heal": "I save the victim.", "poison": "I poison {target}.", "nothing": "I pass."},
    "formats": {
        "kill": 'Answer in JSON only, like {{"speak": "We take {example}.", "target": "{example}"}}',
        "check": 'Answer in JSON only, like {{"speak": "I check {example}.", "target": "{example}"}}',
        "vote": 'Answer in JSON only, like {{"speak": "I vote for {example}.", "target": "{example}"}}',
        "witch": (
            'Answer in JSON only, like {{"speak": "I save the victim.", "heal": true, "poison": "{none}"}} '
            'or {{"speak": "I poison {example}.", "heal": false, "poison": "{example}"}}'
        ),
    },
    "keys": {
        "kill": ["speak", "target"], "check": ["speak", "target"], "vote": ["speak", "target"],
        "witch": ["speak", "heal", "poison"],
    },
    "enum_targets": False,  # the grammar only forces the keys, not legal names
}

COACHED = {
    "rules": _RULES,
    "roles": _ROLE_NOTES,
    "wolf_discuss": (
        "{name}, whisper to your partner {partner}: name the one player among {options} "
        "who should die tonight, in one short sentence."
    ),
    "day_discuss": (
        "{name}, your turn to speak. {facts}Still alive: {alive}. In one short sentence, say "
        "which one of {options} you suspect and why, like: \"I suspect {example}, because {reason}.\""
    ),
    "formats": {
        "kill": 'Answer with JSON only: {{"target": "{example}"}}, naming one of the options.',
        "check": 'Answer with JSON only: {{"target": "{example}"}}, naming one of the options.',
        "vote": 'Answer with JSON only: {{"target": "{example}"}}, naming one of the options.',
        "witch": (
            'Answer with JSON only: {{"heal": true, "poison": "{none}"}} to save the victim, '
            '{{"heal": false, "poison": "{example}"}} to poison {example}, or '
            '{{"heal": false, "poison": "{none}"}} to do nothing.'
        ),
    },
    "keys": {"kill": ["target"], "check": ["target"], "vote": ["target"], "witch": ["heal", "poison"]},
    "remember": {"kill": "I want {target} tonight.", "check": "I look into {target}.", "vote": "I vote for {target}.",
                 "heal": "I heal the victim.", "poison": "I poison {target}.", "nothing": "I keep my potions."},
    "enum_targets": True,  # where the backend takes a grammar, only legal names can be written
}

REASONS = ("they were very quiet", "they accused others too fast", "their vote made no sense",
           "they keep changing their story")
SEER_REASON = "I saw at night that {target} is a werewolf"

PROMPT_SETS = {"plain": PLAIN, "coached": COACHED}
DEFAULT_PROMPTS = "coached"

# -- what the moderator asks (decisions) -------------------------------------------
WOLF_KILL = "{name}, choose tonight's victim. " + OPTIONS_PREFIX + " {options}."
WITCH_ASK = (
    "{name}, {attack} Healing potion: {heal}. Poison: {poison}. You may heal the victim "
    "or poison one player (not both). " + OPTIONS_PREFIX + " {options}."
)
SEER_ASK = "{name}, choose one player to look into. " + OPTIONS_PREFIX + " {options}."
DAY_VOTE = (
    "{name}, vote to eliminate one player, or " + NO_ONE + " to abstain. "
    + OPTIONS_PREFIX + " {options}."
)

# -- narration: the audience's view (parsed back by story.py) ----------------------
PHASE_NIGHT = "Night {round}"
PHASE_DAY = "Day {round}"
NIGHT = "Night {round} falls. Everybody closes their eyes."
WOLVES_WAKE = "(werewolves only) {wolves}: you are the werewolves. Choose tonight's victim among {options}."
WOLF_WAKES = "(werewolves only) {wolves}: you are the last werewolf. Choose tonight's victim among {options}."
WOLF_PICK = "I want {target} tonight."
WOLF_PASS = "I want nobody tonight."
WOLVES_CHOSE = "(werewolves only) The pack has chosen {victim}."
WOLVES_NO_CHOICE = "(werewolves only) The pack named nobody; nobody is attacked tonight."
WITCH_WAKES = "(witch only) {name}, {attack}"
WITCH_HEAL = "I heal {victim}."
WITCH_POISON = "I poison {target}."
WITCH_NOTHING = "I keep my potions tonight."
SEER_PICK = "I look into {target}."
SEER_RESULT = "(seer only) {target} is {verdict}."
FALLBACK = "{name} hesitated; the moderator chose {target} at random."
FALLBACK_NONE = "{name} hesitated; the moderator chose nobody."
FALLBACK_WITCH = "{name} hesitated and kept both potions."
DAWN_DEATHS = "Dawn. {deaths} died in the night."
DAWN_NONE = "Dawn. Nobody died in the night."
DAY = "Day {round}. Still alive: {alive}."
VOTE_FOR = "I vote for {target}."
VOTE_NONE = "I abstain."
VOTE_RESULT = "Votes: {tally}. {outcome}"
ELIMINATED = "{name} is eliminated."
NOBODY_OUT = "Tie or no votes: nobody is eliminated."
REVEAL = "Roles: {cast}."
RESULT_WIN = "Game over after {rounds} round(s): the {winner} win."
RESULT_DRAW = "Game over after {rounds} round(s): a draw, no side won."


def list_names(names: list) -> str:
    """`A, B and C` style list ("nobody" when empty)."""
    names = list(names)
    if not names:
        return "nobody"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def options_line(names: list) -> str:
    """The comma-separated list that follows `Options:` (parsed by the policy model)."""
    return ", ".join(names) if names else "nobody"

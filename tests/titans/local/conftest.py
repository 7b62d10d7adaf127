"""Small synthetic ticket histories the local-Titan tests make themselves (no shared data)."""

from __future__ import annotations

import random

import numpy as np

from titans.local.model import LabelledTicket

VOCAB = {
    "Printer": "printer toner paper jam print queue tray spooler cartridge",
    "Email": "outlook mailbox inbox email signature calendar junk outbox",
    "Network": "wifi vpn internet switch firewall dns router packet",
    "Access": "password locked account login permission mfa unlock reset",
    "Hardware": "laptop monitor keyboard mouse battery screen dock fan",
}
FILLER = "please help issue since morning thanks problem again today user office".split()


def synthetic_tickets(
    n: int, *, seed: int, noise: float = 0.35, priority: bool = False, embed: bool = False
) -> list[LabelledTicket]:
    """Tickets whose words come from their class vocabulary, except a ``noise`` share of words
    drawn from another class, so the task is learnable but not perfectly separable."""
    rng = random.Random(seed)
    classes = sorted(VOCAB)
    centres = np.random.default_rng(99).normal(size=(len(classes), 16))
    rows = []
    for i in range(n):
        c = rng.randrange(len(classes))
        words = []
        for _ in range(rng.randint(3, 6)):
            src = c if rng.random() > noise else rng.randrange(len(classes))
            words.append(rng.choice(VOCAB[classes[src]].split()))
        words += rng.sample(FILLER, 2)
        rng.shuffle(words)
        vec = None
        if embed:
            v = centres[c] + np.random.default_rng(seed * 100003 + i).normal(scale=1.2, size=16)
            vec = (v / np.linalg.norm(v)).astype(np.float32)
        rows.append(
            LabelledTicket(
                title=" ".join(words[:3]),
                description=" ".join(words[3:]),
                category=classes[c],
                priority=("P1" if "outage" in words else rng.choice(["P2", "P3"]))
                if priority
                else "",
                ticket_id=f"S{seed}-{i}",
                embedding=vec,
            )
        )
    return rows

"""Synthetic contacts for demos, benchmarks and DAG tests: realistic columns, a known share of bad rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

FIRST_NAMES = np.array(["Ada", "Grace", "Linus", "Margaret", "Alan", "Katherine", "Dennis", "Barbara", "Ken",
                        "Frances", "José", "Zoë", "Søren", "Aiko", "Chidi"], dtype=object)
LAST_NAMES = np.array(["Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Johnson", "Ritchie", "Liskov",
                       "Thompson", "Allen", "García", "Müller", "Okafor", "Tanaka"], dtype=object)
COUNTRIES = np.array(["US", "GB", "DE", "FR", "ES", "JP", "NG", "BR", "IN", "CA"], dtype=object)
LANGUAGES = np.array(["en", "en", "de", "fr", "es", "ja", "en", "pt", "hi", "en"], dtype=object)
COMPANIES = np.array(["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"], dtype=object)
PLANS = np.array(["free", "starter", "pro", "enterprise"], dtype=object)

COLUMNS = ["email", "first_name", "last_name", "phone", "country", "language", "company", "plan",
           "signup_date", "score", "is_active"]


def synthetic_contacts(rows: int, *, start: int = 0, bad_every: int = 0, seed: int = 7) -> pd.DataFrame:
    """``rows`` contacts with ids ``start..start+rows-1``, built with numpy (fast for millions).

    :param bad_every: when positive, every n-th row gets a data problem (malformed or
        missing email, a duplicate address, an over-long phone, an unparsable score),
        cycling through the kinds so each appears.
    """
    rng = np.random.default_rng(seed + start)
    ids = np.arange(start, start + rows)
    pick = rng.integers(0, 1 << 30, size=(rows, 6))
    frame = pd.DataFrame({
        "email": pd.Series(ids).map("user{}@example.com".format).to_numpy(dtype=object),
        "first_name": FIRST_NAMES[pick[:, 0] % len(FIRST_NAMES)],
        "last_name": LAST_NAMES[pick[:, 1] % len(LAST_NAMES)],
        "phone": pd.Series(pick[:, 2] % 10_000_000 + 5_550_000_000).map("+1{}".format).to_numpy(dtype=object),
        "country": COUNTRIES[pick[:, 3] % len(COUNTRIES)],
        "language": LANGUAGES[pick[:, 3] % len(LANGUAGES)],
        "company": COMPANIES[pick[:, 4] % len(COMPANIES)],
        "plan": PLANS[pick[:, 5] % len(PLANS)],
        "signup_date": (np.datetime64("2020-01-01") + (pick[:, 0] % 2000).astype("timedelta64[D]")),
        "score": np.round((pick[:, 1] % 10_000) / 100.0, 2),
        "is_active": (pick[:, 2] % 5) != 0,
    }, columns=COLUMNS)
    if bad_every > 0:
        _spoil(frame, bad_every, start)
    return frame


def _spoil(frame: pd.DataFrame, every: int, start: int) -> None:
    """Give every n-th row one data problem, cycling through the kinds."""
    frame["score"] = frame["score"].astype(object)
    positions = np.arange(every - 1, len(frame), every)
    kinds = [
        ("email", lambda i: f"not-an-email-{i}"),
        ("email", lambda i: None),
        ("email", lambda i: f"user{i}@@example.com"),
        ("email", lambda i: f"  USER{max(i - 1, 0)}@Example.COM "),  # a duplicate of the row before
        ("phone", lambda i: "+1 555 0100 ext. 12345678901234567890"),
        ("score", lambda i: "n/a"),
    ]
    for n, position in enumerate(positions):
        column, make = kinds[n % len(kinds)]
        frame.iat[position, frame.columns.get_loc(column)] = make(int(position) + start)

"""`linkage privacy find|erase`: staff answer a person's request (PIPL, DESIGN §10).

The vault and the scan over the log are `infra.privacy`'s; this module is the command line.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from domain.clock import shown_day, shown_second
from domain.errors import BadInputError, NotFoundError
from domain.topic import Topic
from infra.bootstrap import bootstrap
from infra.privacy import ERASED, PersonKey, check_person_id, submitted_events_of


def add_privacy_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`linkage privacy find|erase`: staff answer a person's request (PIPL)."""
    privacy = sub.add_parser("privacy", help="submitters' personal data: find and erase a person")
    actions = privacy.add_subparsers(dest="privacy_command", required=True, metavar="ACTION")
    find = actions.add_parser("find", help="the person id of a phone or name, and their topics")
    find.add_argument("--phone", help="the submitter's phone, as they give it")
    find.add_argument("--name", help="the name, for a submitter who gave no phone")
    find.set_defaults(func=cmd_privacy_find)
    erase = actions.add_parser(
        "erase", help="destroy a person's key: name and phone unreadable, history intact"
    )
    erase.add_argument("--person", required=True, help="the person id (linkage privacy find)")
    erase.set_defaults(func=cmd_privacy_erase)


def cmd_privacy_find(args: argparse.Namespace) -> int:
    if not (args.phone or args.name):
        raise BadInputError("PERSON_QUERY_EMPTY", "give --phone (or --name when there is no phone)")
    with bootstrap() as runtime:
        vault = runtime.vault
        person = vault.person_id(args.name, args.phone)
        keys = vault.keys_of(person)
        events = _scan(runtime.app, person, "finding the person's topics")
        print(f"person {person}")
        _print_keys(keys)
        print(f"  topics: {len({e.originator_id for e in events})}")
        for event in events:
            print(f"    {event.originator_id}  {shown_day(event.timestamp)}  {event.title}")
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    person = check_person_id(args.person)
    with bootstrap() as runtime:
        vault = runtime.vault
        keys = vault.keys_of(person)
        if not keys:
            raise NotFoundError("PERSON_NOT_FOUND", f"no personal data is kept for {person}")
        erased = vault.erase(person)
        topics = {e.originator_id for e in _scan(runtime.app, person, "counting the topics")}
        if erased:
            print(
                f"erased person {person}: {len(erased)} key(s) destroyed; "
                f"name and phone on {len(topics)} topic(s) are now unreadable ({ERASED})"
            )
        else:
            print(f"person {person} was erased before; {len(topics)} topic(s), nothing left")
        _print_keys(vault.keys_of(person))
    return 0


def _scan(app: Any, person: str, what: str) -> list[Topic.TopicSubmitted]:
    from tqdm import tqdm

    head: int = app.head_position()
    with tqdm(total=head, desc=what, unit=" events", leave=False) as bar:
        found = submitted_events_of(app, person, bar.update)
        bar.update(max(0, head - bar.n))  # the log's tail held no submission
        return found


def _print_keys(keys: Iterable[PersonKey]) -> None:
    listed = list(keys)
    if not listed:
        print("  no key: nothing of this person is kept")
    for key in listed:
        state = f"erased {shown_second(key.erased_at)}" if key.erased_at else "live"
        print(f"  key {key.key_id}  created {shown_second(key.created_at)}  {state}")

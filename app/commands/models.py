"""``htrjand models list|show|use|remove|export|import``: the recognition models and the versions
fine-tuned on your corrections (kept in your user data folder, never overwritten).

    htrjand models list
    htrjand models show letters-hand
    htrjand models use letters-hand        # the default for recognition from now on
    htrjand models use --default           # back to the bundled model
    htrjand models export letters-hand letters-hand.zip
    htrjand models import letters-hand.zip [--name NAME]
    htrjand models remove letters-hand
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("models", help="list, choose, share and remove models",
                                   description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    p = sub.add_parser("list", help="bundled models and your versions")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("show", help="the card of a model")
    p.add_argument("model", help="model name or folder")
    p.add_argument("--json", action="store_true", help="the whole card as JSON")
    p = sub.add_parser("use", help="make a model the default for recognition")
    p.add_argument("model", nargs="?", help="model name or folder")
    p.add_argument("--default", action="store_true", help="back to the bundled default model")
    p = sub.add_parser("remove", help="delete one of your versions (bundled models stay)")
    p.add_argument("model")
    p = sub.add_parser("export", help="write a model as one .zip to share")
    p.add_argument("model")
    p.add_argument("zip", type=Path, help="file (or folder) to write")
    p = sub.add_parser("import", help="add a model shared as .zip")
    p.add_argument("zip", type=Path)
    p.add_argument("--name", help="name in your store (default: the card's)")
    parser.set_defaults(func=run)


def _active() -> Path | None:
    from engine.model_store import active_model_dir

    active = active_model_dir()
    return active.resolve() if active else None


def run(args: argparse.Namespace) -> int:
    from engine import model_store
    from engine.errors import HtrError

    action = args.models_command
    if action == "list":
        return _list(args.json)
    if action == "show":
        info = model_store.resolve(args.model)
        if args.json:
            print(json.dumps(info.card, ensure_ascii=False, indent=1))
            return 0
        card = info.card or {}
        print(f"{info.name} ({info.source}) — {info.path}")
        for key in ("version", "role", "parameters", "created"):
            if key in card:
                print(f"  {key}: {card[key]}")
        print(f"  characters: {len(card.get('charset', []))}")
        ft = card.get("finetune")
        if isinstance(ft, dict):
            print(f"  parent: {ft['parent'].get('name')} ({ft['parent'].get('path')})")
            print(f"  lines used: {model_store.finetune_lines_text(ft)}; new characters: "
                  f"{''.join(ft.get('new_characters') or []) or 'none'}")
            print(f"  training: {ft['training_s'] / 60:.1f} min, path {ft['path']}, guard "
                  f"{ft['guard']}, {ft['stopped']}")
            print(f"  held-back CER: {ft['cer_before']:.2%} -> {ft['cer_after']:.2%}")
        else:
            summary = model_store.card_summary(card)
            if summary:
                print(f"  {summary}")
        return 0
    if action == "use":
        if args.default == bool(args.model):
            raise HtrError("give a model name, or --default for the bundled model")
        chosen = model_store.set_active(None if args.default else args.model)
        print(f"recognition now uses {chosen}" if chosen else
              "recognition now uses the bundled default model")
        return 0
    if action == "remove":
        print(f"removed {model_store.remove(args.model)}")
        return 0
    if action == "export":
        print(f"wrote {model_store.export_zip(args.model, args.zip)}")
        return 0
    if action == "import":
        folder = model_store.import_zip(args.zip, args.name)
        print(f"imported as {folder.name} ({folder})")
        return 0
    raise HtrError(f"unknown action {action}")


def _list(as_json: bool) -> int:
    from engine.model_store import card_summary, list_all

    active = _active()
    rows = []
    for info in list_all():
        rows.append({"name": info.name, "source": info.source, "path": str(info.path),
                     "active": active is not None and info.path.resolve() == active,
                     "summary": card_summary(info.card) if info.card else "",
                     "error": info.error})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print("no models installed")
        return 0
    for r in rows:
        mark = "*" if r["active"] else " "
        text = r["error"] or r["summary"]
        print(f"{mark} {r['name']:<28} {r['source']:<8} {text}")
    if active is None:
        print("(* marks the model chosen with 'htrjand models use'; none: the bundled default)")
    return 0

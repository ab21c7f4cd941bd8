"""``zeroevents keys``: make, allow and show the CURVE keys of the ``security`` option."""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """The ``keys`` command and its three subcommands."""
    keys = commands.add_parser(
        "keys", parents=[common], help="CURVE keys: make a key pair, allow a client, show keys",
        description="Key files for the 'security' option (CURVE): NAME.key is public, "
        "NAME.key_secret holds both keys and is readable by its owner only.",
    )  # fmt: skip
    subcommands = keys.add_subparsers(dest="keys_command", title="commands")
    new = subcommands.add_parser(
        "new", parents=[common], help="make NAME.key and NAME.key_secret",
        description="Make a key pair: NAME.key (public: give it to the other side) and "
        "NAME.key_secret (created with mode 0600; never share it).",
    )  # fmt: skip
    new.add_argument("name", metavar="NAME", help="the key's name: the sender name rights use")
    new.add_argument("--dir", type=Path, default=Path("."), help="where to write (default: .)")
    new.set_defaults(run=cmd_new)
    allow = subcommands.add_parser(
        "allow", parents=[common], help="copy a client's public key into a server's allow folder",
        description="Copy PUBLIC_KEY_FILE into ALLOW_DIR, the 'allow' folder of a server: "
        "the client is accepted at its next handshake, under the file's name.",
    )  # fmt: skip
    allow.add_argument("public_key", metavar="PUBLIC_KEY_FILE", type=Path)
    allow.add_argument("--dir", type=Path, required=True, metavar="ALLOW_DIR")
    allow.set_defaults(run=cmd_allow)
    show = subcommands.add_parser(
        "show", parents=[common], help="each key file: name, public key, kind and mode",
        description="Print each key file of DIR (or the FILEs): its name, its public key, "
        "whether it holds a secret, and its mode.",
    )  # fmt: skip
    show.add_argument("files", nargs="*", type=Path, metavar="FILE")
    show.add_argument("--dir", type=Path, default=None, help="a folder of key files")
    show.set_defaults(run=cmd_show)
    keys.set_defaults(run=lambda args: _usage(keys))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def cmd_new(args: argparse.Namespace) -> int:
    from .transports.zmq._security import write_key_pair

    if not _NAME.match(args.name):
        raise ConfigurationError(
            f"key name {args.name!r}: use letters, digits, '.', '_' and '-' (a file name)"
        )
    if not args.dir.is_dir():
        raise ConfigurationError(f"--dir {args.dir}: no such folder")
    public, secret = write_key_pair(args.dir, args.name)
    print(f"{public}  public: give it to the other side ('allow' of a server, 'server_key')")
    print(f"{secret}  secret (mode 0600): the 'secret_key' of this side only")
    return 0


def cmd_allow(args: argparse.Namespace) -> int:
    from .transports.zmq._security import PUBLIC_SUFFIX, load_public_key

    source: Path = args.public_key
    load_public_key(str(source), key="PUBLIC_KEY_FILE")
    if "secret-key" in source.read_text(errors="replace"):
        raise ConfigurationError(
            f"{source} holds a secret key: allow the public {PUBLIC_SUFFIX} file instead"
        )
    if not args.dir.is_dir():
        raise ConfigurationError(f"--dir {args.dir}: no such folder")
    target = args.dir / (source.stem + PUBLIC_SUFFIX)
    if target.exists():
        raise ConfigurationError(f"{target} exists: that name is already allowed")
    shutil.copyfile(source, target)
    print(f"allowed {source.stem!r}: {target}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from .transports.zmq._security import PUBLIC_SUFFIX, SECRET_SUFFIX, load_public_key

    files: list[Path] = list(args.files)
    if args.dir is not None:
        if not args.dir.is_dir():
            raise ConfigurationError(f"--dir {args.dir}: no such folder")
        files += sorted(
            f for f in args.dir.iterdir() if f.name.endswith((PUBLIC_SUFFIX, SECRET_SUFFIX))
        )
    if not files:
        raise ConfigurationError("give key FILEs or --dir DIR")
    for file in files:
        public = load_public_key(str(file), key="FILE").decode()
        secret = "secret-key" in file.read_text(errors="replace")
        mode = file.stat().st_mode & 0o777
        kind = "secret" if secret else "public"
        print(f"{file.name.split('.key')[0]:<20} {public}  {kind:<6}  {mode:04o}  {file}")
    return 0

# SPDX-License-Identifier: GPL-3.0-or-later
"""What a versioned job may name, and its remote's secret kept out of everything shown."""

from __future__ import annotations

import pytest

from netrender.common.errors import InvalidRequest
from netrender.common.vcs import check, hide, redact


@pytest.mark.parametrize("remote, shown", [
    ("https://anna:s3cret@git.example.com/show.git", "https://anna:***@git.example.com/show.git"),
    ("https://ghp_T0KEN@github.com/studio/show.git", "https://***@github.com/studio/show.git"),
    ("ssh://git@git.example.com:2222/show.git", "ssh://***@git.example.com:2222/show.git"),
    ("git@git.example.com:studio/show.git", "git@git.example.com:studio/show.git"),  # scp-like: a user, no secret
    ("/srv/git/show.git", "/srv/git/show.git"),
    ("svn://svn.example.com/show/trunk", "svn://svn.example.com/show/trunk"),
])
def test_remotes_are_shown_without_their_secret(remote: str, shown: str) -> None:
    assert redact(remote) == shown


def test_a_tools_message_loses_the_secret_wherever_it_is() -> None:
    remote = "https://anna:s3cret@git.example.com/show.git"
    said = f"fatal: unable to access '{remote}': could not resolve; s3cret was refused"
    assert hide(said, remote) == ("fatal: unable to access 'https://anna:***@git.example.com/show.git': "
                                  "could not resolve; *** was refused")
    assert hide("nothing secret", "/srv/git/show.git") == "nothing secret"


@pytest.mark.parametrize("system, remote, revision", [
    ("cvs", "/srv/show", "1"), ("git", "", "main"), ("git", "--upload-pack=touch /tmp/x", "main"),
    ("git", "ext::sh -c touch% /tmp/x", "main"), ("git", "/srv/show.git", "--output=/tmp/x"),
    ("git", "/srv/show.git", ""), ("git", "/srv/show\n.git", "main"), ("svn", "file:///srv/svn", "1 2"),
])
def test_what_could_run_commands_or_is_not_a_revision_is_refused(system: str, remote: str, revision: str) -> None:
    with pytest.raises(InvalidRequest):
        check(system, remote, revision)


def test_ordinary_names_pass() -> None:
    for revision in ("main", "v1.2", "release/2026-12", "0123abcdef", "HEAD~2", "1234"):
        assert check("git", "https://git.example.com/show.git", revision)[2] == revision

"""Turn a template update into a pull (merge) request, in two steps that trust each other little.

    prepare OUT [--hold-back PATH ...]   runs scripts/update.py --defaults on a new branch,
                                         commits the result and writes OUT: the branch as a git
                                         bundle, its name, and the request's description
    push OUT --remote URL [--forge F]    checks the bundle and pushes its branch (never forced)
    open OUT --forge github|gitlab --base BRANCH
                                         opens the request through the forge's API

push and open read the forge's token from TEMPLATE_UPDATE_TOKEN.

`prepare` runs `copier update --trust`, which executes code from the template repository (its
tasks and migrations), so CI runs it in a job that holds no write token and no secret. `push` and
`open` hold the token and run no template code: they read OUT as untrusted data (git objects, a
branch name they check, a description sent as text) with this script as the default branch has
it (README, "Updating from the template").

A conflict does not stop the request: its files are committed with Copier's markers and listed
in the description, to be resolved on the branch, where the forge shows the diff and CI checks the
result. Paths given with --hold-back (GitHub's workflow files, which the job's token may not
push) are left out of the commit and added as a patch file for a person to apply.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import update
from update import ROOT, git

BRANCH_PREFIX = "template-update/"
# A release tag as Copier records it (v1.2.0, v1.2.0.post1); anything else in OUT is refused.
BRANCH = re.compile(r"template-update/v?[0-9][0-9A-Za-z.+_-]{0,60}")
HELD_BACK_PATCH = "template-update.patch"
# GitHub refuses a longer body; GitLab takes a megabyte.
DESCRIPTION_LIMIT = 60_000
# Basic-auth user names the forges accept with these tokens.
TOKEN_USER = {"github": "x-access-token", "gitlab": "oauth2"}


def check(*args: str) -> str:
    done = git(*args)
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def answers() -> dict[str, str]:
    """The top-level answers of .copier-answers.yml, as the text Copier wrote for each."""
    return dict(re.findall(r"^(\w+): (.*)$", update.ANSWERS.read_text(), re.M))


def describe(outcome: update.Outcome, asked: dict[str, str], held_back: list[str]) -> str:
    """The request's description: what changed, what is left to do, in the order to do it."""
    lines = [
        f"Updates the project from the template release `{outcome.old}` to `{outcome.new}`, "
        "made by the scheduled template update job with `scripts/update.py --defaults` "
        '(README, "Updating from the template"). Review it like any change.',
        "",
        "## Conflicts left",
        "",
    ]
    if outcome.conflicts:
        lines += [
            "These files are committed with both versions between `<<<<<<< before updating` and "
            "`>>>>>>> after updating` (or as `.rej` files). Resolve each on this branch, run "
            "`.venv/bin/python scripts/update.py` checks locally (README), and push:",
            "",
            *[f"- `{path.relative_to(ROOT)}`" for path in outcome.conflicts],
        ]
    else:
        lines.append("None: the lock files, if they conflicted, were recompiled.")
    lines += ["", "## Checks run by the update job", ""]
    if outcome.checks:
        lines += [
            f"- {name}: {'passed' if passed else '**failed** (see the job log)'}"
            for name, passed in outcome.checks.items()
        ]
    else:
        lines.append("Not run: they run once no conflict is left.")
    lines += ["", "## New questions and the answers taken", ""]
    if asked:
        lines += [
            "Answered without asking (`--defaults`); a question that would switch a feature on "
            "keeps what the project does today. To choose otherwise, run "
            "`copier update --trust --skip-answered --data name=value` on this branch.",
            "",
            "| question | answer |",
            "| --- | --- |",
            *[f"| `{name}` | `{value}` |" for name, value in asked.items()],
        ]
    else:
        lines.append("None.")
    if held_back:
        lines += [
            "",
            "## Changes held back",
            "",
            "The update also changes files this job's token may not push "
            f"({', '.join(f'`{path}`' for path in held_back)}); they are in "
            f"`{HELD_BACK_PATCH}`. Read it, then on this branch: "
            f"`git apply {HELD_BACK_PATCH} && git rm -q --cached {HELD_BACK_PATCH} && "
            f"rm {HELD_BACK_PATCH}`, commit and push.",
        ]
    lines += ["", "## The template's CHANGELOG for the releases crossed", ""]
    if outcome.changelog:
        # Its release headings become subheadings of this section.
        lines.append(re.sub(r"^## ", "### ", outcome.changelog, flags=re.M))
    else:
        lines.append("It could not be read: read CHANGELOG.md in the template's repository.")
    text = "\n".join(lines) + "\n"
    if len(text) > DESCRIPTION_LIMIT:
        cut = "\n\n(Cut here: read the rest in the template's CHANGELOG.md.)\n"
        text = text[: DESCRIPTION_LIMIT - len(cut)] + cut
    return text


def hold_back(paths: list[str]) -> list[str]:
    """Move the staged changes under paths into a patch file; return the paths that had some."""
    changed = [
        path for path in paths if git("diff", "--cached", "--quiet", "HEAD", "--", path).returncode
    ]
    if not changed:
        return []
    patch = check("diff", "--cached", "--binary", "HEAD", "--", *changed)
    check("restore", "--staged", "--worktree", "--source=HEAD", "--", *changed)
    (ROOT / HELD_BACK_PATCH).write_text(patch + "\n")
    check("add", HELD_BACK_PATCH)
    return changed


def prepare(out: Path, held: list[str]) -> int:
    base = check("rev-parse", "HEAD")
    before = answers()
    outcome = update.update(["--defaults"])
    if outcome.status == update.NOT_STARTED:
        return 2
    if outcome.new == outcome.old and not check("status", "--porcelain"):
        print("The project is on the template's newest release: nothing to propose.")
        return 0
    asked = {
        name: value
        for name, value in answers().items()
        if name not in before and not name.startswith("_")
    }
    branch = BRANCH_PREFIX + outcome.new
    if not BRANCH.fullmatch(branch):
        print(f"Unexpected template release {outcome.new!r}: no branch made.", file=sys.stderr)
        return 2
    check("switch", "--quiet", "--create", branch)
    check("add", "--all")
    held_back = hold_back(held)
    check(
        "commit",
        "--quiet",
        "--no-verify",
        f"--message=Update from the template: {outcome.old} to {outcome.new}",
    )
    out.mkdir(parents=True, exist_ok=True)
    check("bundle", "create", str(out / "update.bundle"), branch, f"^{base}")
    (out / "branch").write_text(branch + "\n")
    (out / "description.md").write_text(describe(outcome, asked, held_back))
    print(f"\nBranch {branch} is in {out}; the next job pushes it and opens the request.")
    return 0


def read_handed(path: Path, limit: int) -> str:
    """A file the update job handed over: a plain file, never a link, at most limit bytes.

    Where the forge keeps links in artifacts (GitLab's runner does), a link would make this job
    read a file of its own, /proc/self/environ and its token among them, into the request.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise SystemExit(f"Refusing {path.name} from the update job: {error}.") from None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise SystemExit(f"Refusing {path.name} from the update job: not a plain file.")
        return handle.read(limit + 1)[:limit].decode(errors="replace")


def read_branch(out: Path) -> str | None:
    """The branch named in OUT, refused unless it is one `prepare` makes."""
    if not os.path.lexists(out / "branch"):
        return None
    branch = read_handed(out / "branch", 200).strip()
    if not BRANCH.fullmatch(branch) or ".." in branch or branch.endswith((".", ".lock")):
        raise SystemExit(f"Refusing the branch name {branch!r} from the update job.")
    return branch


def auth_environment(remote: str, forge: str | None) -> dict[str, str]:
    """The token as an HTTP header for this remote only, through the environment.

    Neither the command line (visible to other processes) nor .git/config (left on the runner)
    ever holds it.
    """
    token = os.environ.get("TEMPLATE_UPDATE_TOKEN")
    if not token or forge is None:
        return {}
    basic = base64.b64encode(f"{TOKEN_USER[forge]}:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{remote}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def push(out: Path, remote: str, forge: str | None) -> int:
    # Only this step says what it pushed: a mark handed over (a link, say, to a file of this
    # checkout, which writing the mark would overwrite) is removed, never written through.
    if os.path.lexists(out / "pushed"):
        os.unlink(out / "pushed")
    branch = read_branch(out)
    if branch is None:
        print("The update job proposed nothing: nothing to push.")
        return 0
    bundle = str(out / "update.bundle")
    check("bundle", "verify", "--quiet", bundle)
    base = check("rev-parse", "HEAD")
    check("fetch", "--quiet", "--no-tags", bundle, f"refs/heads/{branch}")
    tip = check("rev-parse", "FETCH_HEAD")
    # One commit on top of the commit this job checked out: the update and nothing else.
    if check("rev-list", "--parents", "-n", "1", tip).split() != [tip, base]:
        raise SystemExit(f"The bundle's {branch} is not one commit on top of {base}: refused.")
    env = {**os.environ, **auth_environment(remote, forge)}
    listed = subprocess.run(  # noqa: S603 (git, with a checked branch name)
        [update.GIT, "ls-remote", "--heads", remote, f"refs/heads/{branch}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    if listed.stdout.strip():
        print(
            f"{branch} already exists on the remote: its request is open (or was closed without "
            "deleting the branch; delete it to be proposed this release again)."
        )
        return 0
    subprocess.run(  # noqa: S603 (as above; never forced, so no branch is ever overwritten)
        [update.GIT, "push", "--quiet", "--no-verify", remote, f"{tip}:refs/heads/{branch}"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    descriptor = os.open(out / "pushed", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "w") as mark:
        mark.write(branch + "\n")
    print(f"Pushed {branch}.")
    return 0


def without_quick_actions(text: str) -> str:
    """text with each line that starts with "/" escaped, shown the same but not run.

    GitLab runs such a line of a new merge request's description as a quick action (/merge,
    /approve, /target_branch) in the name of the token's user. The description comes from the
    update job, whose template code and CHANGELOG are untrusted.
    """
    return re.sub(r"^([ \t]*)/", r"\1\\/", text, flags=re.M)


def request_for(forge: str, branch: str, base: str, description: str) -> urllib.request.Request:
    """The forge API call that opens the request, from the CI job's own environment."""
    token = os.environ["TEMPLATE_UPDATE_TOKEN"]
    title = f"Update from the template to {branch.removeprefix(BRANCH_PREFIX)}"
    if forge == "github":
        url = f"{os.environ['GITHUB_API_URL']}/repos/{os.environ['GITHUB_REPOSITORY']}/pulls"
        body = {"title": title, "head": branch, "base": base, "body": description}
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    else:
        url = f"{os.environ['CI_API_V4_URL']}/projects/{os.environ['CI_PROJECT_ID']}/merge_requests"
        body = {
            "title": title,
            "source_branch": branch,
            "target_branch": base,
            "description": without_quick_actions(description),
            "remove_source_branch": True,
        }
        headers = {"PRIVATE-TOKEN": token}
    # The forge's https API URL, from the variables the CI sets.
    return urllib.request.Request(  # noqa: S310  # nosec B310
        url,
        data=json.dumps(body).encode(),
        headers={**headers, "Content-Type": "application/json"},
        method="POST",
    )


def open_request(out: Path, forge: str, base: str) -> int:
    if not (out / "pushed").exists():
        print("No branch was pushed: no request to open.")
        return 0
    branch = read_branch(out)
    description = read_handed(out / "description.md", DESCRIPTION_LIMIT)
    request = request_for(forge, branch, base, description)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # nosec B310
        opened = json.load(response)
    print(f"Opened {opened.get('html_url') or opened.get('web_url')}")
    return 0


def main(arguments: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    step = steps.add_parser("prepare")
    step.add_argument("out", type=Path)
    step.add_argument("--hold-back", action="append", default=[])
    step = steps.add_parser("push")
    step.add_argument("out", type=Path)
    step.add_argument("--remote", required=True)
    step.add_argument("--forge", choices=sorted(TOKEN_USER))
    step = steps.add_parser("open")
    step.add_argument("out", type=Path)
    step.add_argument("--forge", choices=sorted(TOKEN_USER), required=True)
    step.add_argument("--base", required=True)
    options = parser.parse_args(arguments)
    if options.step == "prepare":
        return prepare(options.out.resolve(), options.hold_back)
    if options.step == "push":
        return push(options.out.resolve(), options.remote, options.forge)
    return open_request(options.out.resolve(), options.forge, options.base)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`dadc validate --compose FILE`: a compose file judged as compose reads it: the settings that hand
a container the host (W7001-W7007, W7010) on what the installed compose CLI's `config` prints,
located in the file as written; a file compose refuses is E7008 with compose's reason, at the
place it names."""
from __future__ import annotations

from dadc.errors import DadcError
from dadc.validation.engine import FileResult
from dadc.validation.findings import Finding


def compose_result(path: str, strict: bool, cli: bool = True) -> FileResult:
    """The compose file's settings that hand a container the host (W7001-W7007, W7010), judged on
    what the installed compose CLI's `config` prints, and located in the file as written. A file
    compose refuses is E7008 with compose's reason, at the place it names. cli=False judges the
    file as written (the validation cases: the rules themselves, with no CLI involved)."""
    from pathlib import Path

    from dadc.domain import composefile
    from dadc.runtime.seams import compose, process
    from dadc.validation import rules_compose
    result = FileResult(path)
    try:
        raw = Path(path).read_bytes()
        written = composefile.check(raw)
    except (OSError, DadcError) as exc:
        result.fatal = True
        result.findings.append(Finding("E0001", "error", "", f"cannot read: {getattr(exc, 'strerror', None) or exc}",
                                       getattr(exc, "line", None) or 1, getattr(exc, "column", None) or 1, path))
        return result
    findings: list[Finding] = []
    doc: object = written.first
    folder = Path(path).resolve().parent
    try:
        found = compose.detect() if cli else None
    except DadcError:
        found = None
        findings.append(rules_compose.UNREAD("", "no compose CLI found: judged on the file as written"))
    if found is not None:
        done = process.run(found.command("config", Path(path).resolve(), folder), cwd=str(folder), timeout=120,
                           check=False)
        try:
            doc = composefile.load(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
        except DadcError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
            said = [line for line in done.stderr.strip().splitlines() if line.strip()]
            reason = " / ".join(said[-3:]) or "it printed no project"
            needs = f" (the file uses {'; '.join(written.needs())}: this is {found.name} {found.version})" \
                if written.needs() else ""
            findings.append(rules_compose.REFUSED(rules_compose.pointer_of(reason), f"compose refuses it: {reason}{needs}"))
            doc = None
    findings += rules_compose.check(doc, str(folder)) if isinstance(doc, dict) else []
    for f in rules_compose.locate(findings, raw, path):
        result.findings.append(f)  # --strict: the exit code, not the severity
    result.findings.sort(key=lambda f: (f.line, f.column, f.rule))
    return result

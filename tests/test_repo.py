"""The README's two set-up commands: CI runs (b) verbatim; (a) names a config that exists."""

import re

from tests.conftest import ROOT


def _readme_commands():
  return re.findall(r"```bash\n(python3 -m venv .*)\n```", (ROOT / "README.md").read_text())


def test_ci_runs_the_readme_test_command_verbatim():
  ci_lines = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln and ln[0] not in "#"]
  commands = _readme_commands()
  assert len(commands) == 2
  assert ci_lines[-1] == commands[1]
  assert "pytest" in commands[1] and "requirements-test.txt" in commands[1]


def test_readme_main_command_uses_a_shipped_config():
  main = _readme_commands()[0]
  config = re.search(r"--config=(\S+?)(:\S+)?\s", main + " ").group(1)
  assert (ROOT / config).is_file()
  assert "gan_jax.main" in main and "requirements.txt" in main

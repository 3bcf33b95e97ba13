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
  config, preset = re.search(r"--config=(\S+?)(?::(\S+))?\s", main + " ").groups()
  assert (ROOT / config).is_file()
  assert "gan_jax.main" in main and "requirements.txt" in main
  # The first command is the CPU preset: a laptop shows a learning model in minutes.
  from gan_jax import config as config_lib  # noqa: PLC0415

  assert preset == "cpu" and preset in config_lib.import_config_file(ROOT / config).PRESETS


MODES = ("train", "sample", "translate", "evaluate")  # one module per --mode


def import_graph() -> dict[str, set[str]]:
  """{gan_jax module: the gan_jax modules it imports, at any depth of its code}."""
  import ast  # noqa: PLC0415

  modules = {}
  for file in (ROOT / "gan_jax").rglob("*.py"):
    parts = file.relative_to(ROOT).with_suffix("").parts
    modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
  graph = {}
  for name, file in modules.items():
    imported = set()
    for node in ast.walk(ast.parse(file.read_text())):
      if isinstance(node, ast.Import):
        imported |= {alias.name for alias in node.names}
      elif isinstance(node, ast.ImportFrom) and node.module:
        # `from package import module` needs the module; `from module import name`, the module.
        for alias in node.names:
          sub = f"{node.module}.{alias.name}"
          imported.add(sub if sub in modules else node.module)
    graph[name] = {m for m in imported if m in modules and m != name}
  return graph


def _cycle(graph) -> list[str]:
  """One import cycle of `graph`, or []."""
  state = {}

  def visit(node, path):
    state[node] = "open"
    for nxt in sorted(graph[node]):
      if state.get(nxt) == "open":
        return [*path[path.index(nxt) :], nxt]
      if nxt not in state and (found := visit(nxt, [*path, nxt])):
        return found
    state[node] = "done"
    return []

  for node in sorted(graph):
    if node not in state and (found := visit(node, [node])):
      return found
  return []


def test_gan_jax_imports_have_no_cycle_and_no_mode_imports_another():
  graph = import_graph()
  assert _cycle(graph) == []
  for mode in MODES:
    others = {f"gan_jax.{m}" for m in MODES} - {f"gan_jax.{mode}"}
    assert not graph[f"gan_jax.{mode}"] & others, mode
  assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check works

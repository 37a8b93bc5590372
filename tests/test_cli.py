import subprocess
import sys

from typer.testing import CliRunner

from zoo_site import __version__
from zoo_site.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"zoo-site {__version__}"


def test_help_lists_the_commands():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "plan", "demo", "serve"):
        assert command in result.output


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\n"
        "from zoo_site.cli import main\n"
        "sys.argv = ['zoo-site', 'build', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "names = ('tensorflow', 'ale_py', 'imageio_ffmpeg', 'moviepy')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "--zoo" in out.stdout


def test_build_and_plan_take_the_options_for_huge_zoos():
    for command in ("build", "plan"):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0
        for option in ("--only", "--max-steps"):
            assert option in result.output, (command, option)
    assert "--dry-run" in CliRunner().invoke(app, ["build", "--help"]).output
    assert "--json" in CliRunner().invoke(app, ["plan", "--help"]).output


def test_missing_zoo_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(
        app, ["build", "--zoo", str(tmp_path / "nope"), "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 3
    assert "no such zoo folder" in result.output
    result = CliRunner().invoke(app, ["plan", "--zoo", str(tmp_path / "nope")])
    assert result.exit_code == 3 and "no such zoo folder" in result.output


def test_bad_config_exit_code(tmp_path):
    cfg = tmp_path / "zoo-site.toml"
    cfg.write_text("titel = 1\n")
    result = CliRunner().invoke(app, ["build", "--config", str(cfg), "--zoo", str(tmp_path)])
    assert result.exit_code == 2
    assert "did you mean 'title'" in result.output

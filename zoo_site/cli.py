"""The command line. Heavy modules (TensorFlow, the emulator, ffmpeg) load only when used."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zoo_site import __version__

app = typer.Typer(
    name="zoo-site",
    help="Turn a zoo of trained deep-RL Atari agents into a static website.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zoo-site {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Turn a zoo of trained deep-RL Atari agents into a static website."""


def _fail(exc: Exception, verbose: bool) -> None:
    from rich.console import Console
    from rich.markup import escape

    from zoo_site.errors import ZooSiteError

    if verbose:
        import traceback

        traceback.print_exc()
    Console(stderr=True).print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(exc.exit_code if isinstance(exc, ZooSiteError) else 1)


def _check_media_url(url: str | None, option: str = "--media-url") -> None:
    from urllib.parse import urlsplit

    from zoo_site.errors import ConfigError

    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError([f"{option} {url!r} must be an http(s) URL with no query"])


Only = Annotated[
    list[str] | None,
    typer.Option(
        "--only",
        help="Build only entries whose id algo/game/run/tag matches this shell-style pattern "
        "(e.g. 'DQN_modern/*/*/*', '*/Pong/*/*'); give it several times for several. The rest "
        "are left out of the site. Default: only = [...] in zoo-site.toml, else every entry.",
        show_default=False,
    ),
]
MaxSteps = Annotated[
    int | None,
    typer.Option(
        "--max-steps",
        min=1,
        help="Render at most N steps of any rollout: longer zoo rollouts are cut to their "
        "first N steps, missing ones played for at most N. Default: [rollout] max_steps.",
        show_default=False,
    ),
]
Cores = Annotated[
    list[int] | None,
    typer.Option(
        "--cores",
        min=1,
        help="Also estimate the time on this many cores (several times for several). "
        "Default: 16 and 64.",
        show_default=False,
    ),
]


@app.command()
def build(
    zoo: Annotated[
        list[str] | None,
        typer.Option(
            help="A zoo: a folder (Atari Model Zoo, atari-agents, ... layout, detected) or an "
            "http(s) URL of one; give it several times for one site of several zoos. "
            "Default: [[sources]] or zoo in zoo-site.toml, else the demo zoo."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the site. Default: ./site")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="A zoo-site.toml. Default: <zoo>/zoo-site.toml, then ./zoo-site.toml."),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Where media and played rollouts are kept. Default: ./.zoo-site-cache"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            help="Worker processes, and cores used: with N below the machine's cores the "
            "build (workers, encoders, TensorFlow) is kept on N of them. Default: all cores.",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run entries on a Dask cluster: its scheduler's address (tcp://host:8786), "
            "or 'local' for a Dask LocalCluster of --jobs workers. Default: a process pool."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail the build on any warning.")
    ] = False,
    media_url: Annotated[
        str | None,
        typer.Option(
            help="Host the media (videos, posters, strips) at this URL: they are written to "
            "<out>-media/ for upload there; pages and manifests stay in <out>."
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="The site's public address (https://…/): link previews (Open Graph) and "
            "sitemap.xml. Default: base_url in the config, else GitHub Pages' URL in Actions."
        ),
    ] = None,
    only: Only = None,
    max_steps: MaxSteps = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Only say what the build would do (zoo-site plan): nothing is written, "
            "no site touched.",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Build the site: rollouts where missing, videos, manifests and pages."""
    from zoo_site.build.pipeline import BuildOptions
    from zoo_site.build.pipeline import build as run_build
    from zoo_site.build.report import Reporter
    from zoo_site.errors import ZooSiteError

    options = BuildOptions(
        zoos=list(zoo or []), out=out, config=config, cache_dir=cache_dir, jobs=jobs,
        verbose=verbose, scheduler=scheduler, strict=strict, media_url=media_url,
        base_url=base_url, only=list(only or []), max_steps=max_steps,
    )  # fmt: skip
    if dry_run:
        _plan(options, None, False)
        return
    try:
        _check_media_url(media_url)
        _check_media_url(base_url, "--base-url")
        run_build(options, Reporter(verbose=verbose))
    except ZooSiteError as exc:
        _fail(exc, verbose)
    except KeyboardInterrupt:
        typer.echo("Interrupted: the previous site is unchanged; a rerun resumes from the cache.",
                   err=True)  # fmt: skip
        raise typer.Exit(130) from None


@app.command()
def plan(
    zoo: Annotated[
        list[str] | None,
        typer.Option(
            help="A zoo, as for build (several times for several). Default: as for build; "
            "with none, the demo zoo the build would make (not made here)."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The site's folder, as for build.")] = None,
    config: Annotated[Path | None, typer.Option(help="A zoo-site.toml, as for build.")] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="The cache to look in. Default: ./.zoo-site-cache")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", help="The cores of this machine to estimate for. Default: all."
        ),  # fmt: skip
    ] = None,
    only: Only = None,
    max_steps: MaxSteps = None,
    cores: Cores = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the plan as JSON, for programs.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Say what `zoo-site build` would do, before it does any: how many entries, how many
    need rendering, playing, saliency maps and noise evaluations, the time here and on
    more cores, and the site's size. Writes nothing."""
    from zoo_site.build.pipeline import BuildOptions

    options = BuildOptions(zoos=list(zoo or []), out=out, config=config, cache_dir=cache_dir,
                           jobs=jobs, verbose=verbose, only=list(only or []),
                           max_steps=max_steps)  # fmt: skip
    _plan(options, cores, as_json)


def _plan(options, cores: list[int] | None, as_json: bool) -> None:
    from zoo_site.build.plan import make_plan, show, to_json
    from zoo_site.errors import ZooSiteError

    try:
        made = make_plan(options, cores)
    except ZooSiteError as exc:
        _fail(exc, options.verbose)
        return
    if as_json:
        typer.echo(to_json(made))
    else:
        show(made)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to write the demo zoo.")] = Path("demo-zoo"),
    steps: Annotated[int, typer.Option(min=1, help="Agent steps per rollout.")] = 500,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
) -> None:
    """Make the demo zoo: Nature CNNs frozen to .pb, played in the real emulator; the
    `final` agents of Breakout and Pong imitation-trained (a few minutes), the rest untrained."""
    from zoo_site.build.pipeline import make_demo
    from zoo_site.build.report import Reporter
    from zoo_site.demo import DemoSpec

    reporter = Reporter()
    make_demo(out, DemoSpec(steps=steps), jobs, reporter)
    reporter.info(f"Demo zoo: {out} (build its site with: zoo-site build --zoo {out})")


@app.command()
def serve(
    directory: Annotated[Path, typer.Argument(help="The built site.")] = Path("site"),
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = 8000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve a built site locally, with the HTTP Range support videos need."""
    from zoo_site.site.serve import serve as run_serve

    if not (directory / "index.html").is_file():
        typer.echo(f"error: {directory} holds no built site (no index.html)", err=True)
        raise typer.Exit(2)
    run_serve(directory, host, port)


@app.command()
def index(
    zoo: Annotated[Path, typer.Argument(help="The zoo folder to publish.")],
) -> None:
    """Write <zoo>/zoo-index.json, so the zoo can be read over HTTP (--zoo https://…)."""
    from zoo_site.sources.remote import write_zoo_index

    if not zoo.is_dir():
        typer.echo(f"error: {zoo} is not a folder", err=True)
        raise typer.Exit(3)
    path = write_zoo_index(zoo)
    typer.echo(f"Wrote {path}: upload the zoo folder with it to any static host.")


@app.command()
def clip(
    entries: Annotated[
        list[str] | None,
        typer.Argument(
            help="Entry ids algo/game/run/tag, one per cell (or use --grid).", show_default=False
        ),
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(
            "--grid",
            help="A grid.html link (or just its query): its cells, "
            "layout, start time and saliency settings.",
        ),
    ] = None,
    site: Annotated[Path, typer.Option(help="The built site.")] = Path("site"),
    start: Annotated[
        int | None,
        typer.Option("--from", min=0, help="First step. Default: the link's t/frame, else 0."),
    ] = None,
    stop: Annotated[
        int | None,
        typer.Option("--to", help="Stop before this step. Default: the longest video's end."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The clip (.mp4).")] = Path("clip.mp4"),
    saliency: Annotated[
        str | None,
        typer.Option(
            help="Overlay saliency maps: off, actor, critic or both. Default: the link's, else off."
        ),
    ] = None,
    salpha: Annotated[
        float | None, typer.Option(help="Overlay opacity 0-1. Default: the link's, else 0.6.")
    ] = None,
    palette: Annotated[
        str | None, typer.Option(help="paper (blue/red) or cb (colour-blind safe).")
    ] = None,
    cols: Annotated[
        int | None, typer.Option(help="Columns. Default: as the grid, or √cells for ids.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
) -> None:
    """Render a comparison-grid video (H.264) of a built site's entries, step by step."""
    from proglog import TqdmProgressBarLogger

    from zoo_site.clip import ClipOptions, make_clip
    from zoo_site.errors import ZooSiteError

    options = ClipOptions(site=site, out=out, entries=list(entries or []), grid=grid,
                          start=start, stop=stop, saliency=saliency, salpha=salpha,
                          palette=palette, cols=cols)  # fmt: skip
    try:
        result = make_clip(options, TqdmProgressBarLogger(print_messages=False),
                           lambda note: typer.echo(note, err=True))  # fmt: skip
    except ZooSiteError as exc:
        _fail(exc, verbose)
        return
    except KeyboardInterrupt:
        typer.echo(f"Interrupted: {out} is as it was.", err=True)
        raise typer.Exit(130) from None
    width, height = result.size
    typer.echo(f"Wrote {result.out}: {len(result.cells)} cells, steps {result.start} to "
               f"{result.stop - 1} ({result.frames} frames at {result.fps:g} fps, "
               f"{width}×{height}) in {result.seconds:.1f} s.")  # fmt: skip


def main() -> None:
    app(prog_name="zoo-site")


if __name__ == "__main__":  # pragma: no cover
    main()

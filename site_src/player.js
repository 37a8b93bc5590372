/* zoo-site: frame-exact playback controls shared by the viewer and the activation viewer.
 *
 * Step n of an entry is video frame n. The step shown is read from the frame actually
 * presented (requestVideoFrameCallback's mediaTime) while playing, and from currentTime
 * after a seek; stepping seeks to the frame's centre, (n + 0.5) / fps.
 */
"use strict";

window.ZooPlayer = (function () {
  const SPEEDS = [0.1, 0.25, 0.5, 1, 1.5, 2];
  const $ = (id) => document.getElementById(id);

  function create(video, onStep) {
    const player = { fps: 0, frames: 0, step: -1, onStep, onPause: () => {} };

    function report(time) {
      if (!player.frames) return;
      const step = Zoo.stepAt(time, player.fps, player.frames);
      if (step === player.step) return;
      player.step = step;
      player.onStep(step);
    }

    player.load = (src, poster, fps, frames, step) => {
      player.fps = fps;
      player.frames = frames;
      player.step = -1;
      video.poster = poster;
      video.src = src;
      const start = step === null || step === undefined ? 0 : step;
      if (start > 0) video.currentTime = Zoo.timeOf(start, fps);
      report(start > 0 ? Zoo.timeOf(start, fps) : 0);
      return start;
    };

    player.seekStep = (step) => {
      if (!player.frames) return;
      const n = Math.min(player.frames - 1, Math.max(0, step));
      video.currentTime = Zoo.timeOf(n, player.fps);
      report(video.currentTime);
    };

    player.stepBy = (delta) => {
      video.pause();
      player.seekStep(Math.max(0, player.step) + delta);
    };

    player.toggle = () => {
      if (video.paused) video.play().catch(() => {});
      else video.pause();
    };

    player.setSpeed = (rate) => {
      video.playbackRate = rate;
      video.defaultPlaybackRate = rate;
      const select = $("speed");
      if (select) select.value = String(rate);
    };

    player.changeSpeed = (direction) => {
      const at = SPEEDS.indexOf(video.playbackRate);
      const i = at < 0 ? SPEEDS.indexOf(1) : at;
      player.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + direction))]);
    };

    /* The frame presented, every frame while playing; currentTime after seeks. */
    video.addEventListener("seeked", () => report(video.currentTime));
    if ("requestVideoFrameCallback" in video) {
      const onFrame = (_now, meta) => {
        report(video.paused ? video.currentTime : meta.mediaTime);
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      video.addEventListener("timeupdate", () => report(video.currentTime));
    }
    video.addEventListener("play", () => syncPlayButton(video));
    video.addEventListener("pause", () => {
      syncPlayButton(video);
      player.onPause();
    });
    wireControls(player, video);
    return player;
  }

  function syncPlayButton(video) {
    const button = $("play");
    if (!button) return;
    button.textContent = video.paused ? "Play" : "Pause";
    button.setAttribute("aria-pressed", String(!video.paused));
  }

  function wireControls(player, video) {
    const speed = $("speed");
    if (speed) {
      speed.replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
      speed.value = "1";
      speed.addEventListener("change", () => player.setSpeed(Number(speed.value)));
    }
    const click = (id, fn) => $(id) && $(id).addEventListener("click", fn);
    click("play", () => player.toggle());
    click("prev", () => player.stepBy(-1));
    click("next", () => player.stepBy(1));
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      const typing = target.closest && target.closest("input, select, textarea");
      /* On a focused button or link, space keeps its own meaning (press it). */
      const pressing = event.key === " " && target.closest && target.closest("button, a");
      if (event.altKey || event.ctrlKey || event.metaKey || typing || pressing) return;
      const keys = {
        " ": () => player.toggle(),
        ArrowLeft: () => player.stepBy(-1),
        ArrowRight: () => player.stepBy(1),
        "[": () => player.changeSpeed(-1),
        "]": () => player.changeSpeed(1),
      };
      if (keys[event.key]) {
        event.preventDefault();
        keys[event.key]();
      }
    });
    syncPlayButton(video);
  }

  /* Step n's action, reward and score into #step-action, #step-reward, #step-score;
   * returns the index of the action shown (-1 when none is recorded). */
  function showStepData(steps, n) {
    const list = steps.actions || steps.greedy;
    const chosen = list ? list[n] : -1;
    let action = "not recorded";
    if (list) {
      const name = steps.action_names[chosen] || `action ${chosen}`;
      action = steps.actions ? name : `${name} (the network's greedy choice)`;
    } else if (steps.action_values) { /* continuous control: the values themselves */
      action = `[${steps.action_values[n].map(Zoo.formatNumber).join(", ")}]`;
    }
    $("step-action").textContent = action;
    $("step-reward").textContent = steps.rewards ? Zoo.formatNumber(steps.rewards[n]) : "not recorded";
    $("step-score").textContent = steps.score ? Zoo.formatNumber(steps.score[n]) : "not recorded";
    return chosen;
  }

  /* Copy `url` to the clipboard (or select it in #link for a manual copy); say so. */
  async function copyLink(url) {
    const field = $("link");
    const status = $("copy-status");
    if (field) field.value = url;
    try {
      await navigator.clipboard.writeText(url);
      if (status) status.textContent = "Link copied.";
    } catch (_err) {
      if (field) field.select();
      if (status) status.textContent = "Press Ctrl+C to copy the selected link.";
    }
  }

  return { SPEEDS, create, copyLink, showStepData };
})();

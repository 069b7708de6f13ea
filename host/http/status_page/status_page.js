// The status page's script (served at /ui/status_page.js): plain JavaScript, no library, no build step.
//
// Every few seconds it reads the daemon's JSON endpoints (the reads a read-only API client may make: status,
// predictions, experiments, health/components, metrics, and decisions for a clicked model) and redraws the page.
// Whatever the number of models, the lists it reads are bounded (status ?per_state, predictions ?soonest): the
// tables and the timeline show at most that many rows and say how many more there are.
// The buttons go through the same authenticated POST endpoints warmupctl uses, each after a confirmation.
//
// Access token: the daemon tells the page (meta tag warmup-access) whether a token is needed for changes only
// ("changes") or for every read too ("all"). The page asks for it in a dialog when it is needed, keeps it in
// sessionStorage (this tab only) and sends it as "Authorization: Bearer <token>", never in a URL. A 401 forgets the
// token and asks again.
//
// Cold-request rate and cold wait over the last hour come from counters the page samples at each refresh (kept in
// sessionStorage, so a reload of the tab keeps the hour); a counter that goes down (a restart, a state restore)
// starts the samples again. Before the tab's first sample, the cold requests per minute and the cold-request rate
// come from the daemon's metrics history (GET /api/warmup/history, one sample per snapshot, read once a minute),
// so the chart covers the whole hour when the daemon keeps state.
(function () {
  'use strict';

  const REFRESH_MS = 3000;
  const HOUR_MS = 3600 * 1000;
  const TIMELINE_PAST_MS = 5 * 60 * 1000;  // the timeline starts 5 min ago, so "now" is visible as a line
  const DECISIONS_SHOWN = 25;
  // The page stays light whatever the number of models: it asks the daemon for bounded lists (the totals come with
  // them) and says how many more there are.
  const TIMELINE_ROWS = 50;  // the models whose next event in the hour is soonest
  const MODELS_PER_STATE = 50;  // warm, loading, queued and unloading models listed each
  const TOKEN_KEY = 'warmup.accessToken';
  const SAMPLES_KEY = 'warmup.coldSamples';
  const HISTORY_REFRESH_MS = 60 * 1000;  // the history gains a sample per snapshot (60 s by default)
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const accessMeta = document.querySelector('meta[name="warmup-access"]');
  const access = accessMeta ? accessMeta.content : 'open';  // open | changes | all

  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let selectedModel = null;
  let samples = loadSamples();
  let history = [];  // the daemon's metrics history of the last hour, oldest first: {t_ms, requests, cold_requests}
  let historyReadAt = 0;
  let refreshTimer = null;
  let lastPredictions = null;  // redrawn at the new width when the window is resized
  let refreshes = 0;

  // ----- small helpers -------------------------------------------------------------------------------------------

  const byId = (id) => document.getElementById(id);

  /// An element with optional class and text (text through textContent: nothing from the daemon becomes markup).
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attributes, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svgTitle(node, text) {
    node.appendChild(svg('title', {}, text));
    return node;
  }

  function mib(value) {
    if (value === null || value === undefined) return '\u2013';
    // One decimal up to 100 GiB: whole GiB made "free 64 GiB of 64 GiB" of 512 MiB in use, and loaded and free that
    // did not add up to the budget.
    if (value >= 1024) return (value / 1024).toFixed(value >= 102400 ? 0 : 1) + ' GiB';
    return Math.round(value) + ' MiB';
  }

  /// `name` shortened to about `pixels` of 12 px text (7 px a character), its middle left out: names of one family
  /// differ at their ends ("org/llama-3.1-8b-instruct-q4" and "...-q8"). The full name is in the row's title.
  function fitted(name, pixels) {
    const characters = Math.max(6, Math.floor(pixels / 7));
    if (name.length <= characters) return name;
    const head = Math.ceil((characters - 1) / 2);
    return name.slice(0, head) + '\u2026' + name.slice(name.length - (characters - 1 - head));
  }

  function percent(ratio) {
    return ratio === null || ratio === undefined ? '\u2013' : (ratio * 100).toFixed(1) + ' %';
  }

  function clockTime(ms) {
    return new Date(ms).toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
  }

  /// "12 s", "4 min", "2.5 h" for a duration in ms.
  function duration(ms) {
    const magnitude = Math.abs(ms);
    if (magnitude < 60 * 1000) return Math.round(magnitude / 1000) + ' s';
    if (magnitude < HOUR_MS) return Math.round(magnitude / 60000) + ' min';
    return (magnitude / HOUR_MS).toFixed(1) + ' h';
  }

  /// "in 4 min", "12 s ago" for a time relative to the daemon's now.
  function relative(ms, nowMs) {
    return ms >= nowMs ? 'in ' + duration(ms - nowMs) : duration(nowMs - ms) + ' ago';
  }

  function replaceChildren(parent, children) {
    parent.replaceChildren(...children);
  }

  // ----- talking to the daemon -----------------------------------------------------------------------------------

  class AuthRequired extends Error {}

  function forgetToken() {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
  }

  async function errorText(response) {
    const text = await response.text();
    try {
      const body = JSON.parse(text);
      if (body && body.error) return body.error;
    } catch (ignored) {
      // not JSON: the text itself
    }
    return text.trim() || response.statusText;
  }

  async function send(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = {method, headers, cache: 'no-store'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      const reason = await errorText(response);
      forgetToken();
      throw new AuthRequired(reason);
    }
    return response;
  }

  async function getJson(path) {
    const response = await send('GET', path);
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status + ': ' + (await errorText(response)));
    return response.json();
  }

  async function getText(path) {
    const response = await send('GET', path);
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status + ': ' + (await errorText(response)));
    return response.text();
  }

  // The dialog for the access token. Resolves when a token was entered, rejects when the operator cancels.
  let tokenRequest = null;
  function askForToken(reason) {
    if (tokenRequest) return tokenRequest;  // one dialog, however many requests need it
    const dialog = byId('token-dialog');
    const input = byId('token-input');
    byId('token-reason').textContent = reason;
    input.value = '';
    tokenRequest = new Promise((resolve, reject) => {
      dialog.addEventListener('close', function onClose() {
        dialog.removeEventListener('close', onClose);
        tokenRequest = null;
        const entered = input.value.trim();
        input.value = '';
        if (dialog.returnValue === 'ok' && entered) {
          token = entered;
          sessionStorage.setItem(TOKEN_KEY, token);
          resolve();
        } else {
          reject(new Error('no access token entered'));
        }
      });
    });
    dialog.returnValue = '';
    dialog.showModal();
    input.focus();
    return tokenRequest;
  }

  // ----- the refresh loop ----------------------------------------------------------------------------------------

  function showAlert(text) {
    const alert = byId('alert');
    alert.textContent = text;
    alert.hidden = !text;
  }

  async function refresh() {
    const [status, predictions, experiments, health, metrics] = await Promise.all([
      getJson('/api/warmup/status?per_state=' + MODELS_PER_STATE),
      getJson('/api/warmup/predictions?soonest=' + TIMELINE_ROWS + '&within_ms=' + HOUR_MS),
      getJson('/api/warmup/experiments'),
      getJson('/api/warmup/health/components'),
      getText('/metrics'),
      refreshHistory(),
    ]);
    renderHeader(status, health);
    renderBudget(status, experiments);
    renderModels(status);
    renderTimeline(predictions);
    renderColdRequests(experiments, metrics);
    renderHealth(health, status.now_ms);
    renderOperations(status);
    renderExperiment(experiments);
    if (selectedModel) await renderDecisions(selectedModel);
  }

  async function tick() {
    clearTimeout(refreshTimer);
    try {
      if (access === 'all' && !token) await askForToken('This daemon needs its access token for every request here.');
      await refresh();
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      byId('refresh-state').textContent = 'updated ' + clockTime(Date.now()) + ', every ' + REFRESH_MS / 1000 + ' s';
      showAlert('');
    } catch (error) {
      if (error instanceof AuthRequired) {
        showAlert('The daemon refused the access token: ' + error.message);
        await askForToken('The daemon asks for its access token: ' + error.message).catch(() => {});
      } else {
        showAlert('Cannot read the daemon: ' + error.message);
        // A request that got no answer at all (fetch rejects with a TypeError): what the page shows is as old as its
        // last refresh, and the badge says the daemon does not answer rather than "running".
        if (error instanceof TypeError && /fetch/i.test(String(error.message))) {
          const mode = byId('mode');
          mode.textContent = 'not answering';
          mode.className = 'badge unreachable';
        }
      }
    } finally {
      refreshTimer = setTimeout(tick, REFRESH_MS);
    }
  }

  // ----- header ---------------------------------------------------------------------------------------------------

  function renderHeader(status, health) {
    const mode = byId('mode');
    if (status.emergency_stop) {
      mode.textContent = 'EMERGENCY STOP';
      mode.className = 'badge emergency';
    } else if (status.safe_mode) {
      mode.textContent = 'safe mode';
      mode.className = 'badge safe';
    } else if (health && health.status && health.status !== 'ok') {
      // A component failing (a source, a backend, an open circuit) is said at the top, not only in its panel.
      mode.textContent = 'running, ' + health.status;
      mode.className = 'badge degraded';
    } else {
      mode.textContent = 'running';
      mode.className = 'badge running';
    }
    byId('build').textContent = 'version ' + status.version + ', up ' + duration(status.uptime_s * 1000);
  }

  // ----- memory budget --------------------------------------------------------------------------------------------

  function renderBudget(status, experiments) {
    const budget = status.budget_mb;
    const bar = byId('budget-bar');
    const segments = [];
    let listedLoadedMb = 0;
    let listedLoadingMb = 0;
    const add = (entry, state) => {
      const share = budget > 0 ? Math.min(100, (entry.memory_mb / budget) * 100) : 0;
      const segment = el('div', 'segment ' + state);
      segment.style.width = share + '%';
      segment.dataset.model = entry.model;
      segment.dataset.state = state;
      segment.title = entry.model + ': ' + mib(entry.memory_mb) + ' ' + state + ' (' + entry.cause + ')';
      segment.addEventListener('click', () => selectModel(entry.model));
      segments.push(segment);
    };
    for (const entry of status.warm) {
      listedLoadedMb += entry.memory_mb;
      add(entry, 'loaded');
    }
    for (const entry of status.loading) {
      listedLoadingMb += entry.memory_mb;
      add(entry, 'loading');
    }
    // The lists are bounded: the models not listed share one segment per state, from the daemon's totals.
    const loadedMb = Math.max(listedLoadedMb, status.warm_mb || 0);
    const loadingMb = Math.max(listedLoadingMb, status.loading_mb || 0);
    const addRest = (restMb, count, state) => {
      if (count <= 0 || restMb <= 0) return;
      const segment = el('div', 'segment rest ' + state);
      segment.style.width = (budget > 0 ? Math.min(100, (restMb / budget) * 100) : 0) + '%';
      segment.dataset.state = state;
      segment.dataset.rest = String(count);
      segment.title = count + ' more ' + state + ' model' + (count === 1 ? '' : 's') + ': ' + mib(restMb);
      segments.push(segment);
    };
    addRest(loadedMb - listedLoadedMb, (status.warm_count || 0) - status.warm.length, 'loaded');
    addRest(loadingMb - listedLoadingMb, (status.loading_count || 0) - status.loading.length, 'loading');
    // Memory whose unload is not over is still charged (the server holds it): it is not free yet.
    const unloadingMb = status.unloading_mb || 0;
    const freeMb = Math.max(0, budget - loadedMb - loadingMb - unloadingMb);
    const free = el('div', 'segment free');
    free.title = mib(freeMb) + ' free';
    segments.push(free);
    replaceChildren(bar, segments);
    bar.setAttribute('aria-label', 'memory budget: ' + mib(loadedMb) + ' loaded, ' + mib(loadingMb) + ' loading, ' +
      (unloadingMb > 0 ? mib(unloadingMb) + ' being unloaded, ' : '') + mib(freeMb) + ' free of ' + mib(budget));

    const legend = [
      ['key-loaded', 'loaded ' + mib(loadedMb)],
      ['key-loading', 'loading ' + mib(loadingMb)],
      ['key-free', 'free ' + mib(freeMb) + ' of ' + mib(budget)],
    ].map(([key, text]) => {
      const item = el('span', null, text);
      item.prepend(el('i', 'key ' + key));
      return item;
    });
    if (status.queue_depth > 0) legend.push(el('span', null, status.queue_depth.toLocaleString('en-US') + ' queued'));
    if (unloadingMb > 0) legend.push(el('span', null, mib(unloadingMb) + ' being unloaded'));
    if (status.memory_waiters > 0) legend.push(el('span', null, status.memory_waiters + ' waiting for memory'));
    replaceChildren(byId('budget-legend'), legend);
    byId('budget-scope').textContent = experiments.enabled ? '(the control arm\u2019s share)' : '';
  }

  // ----- models in memory -----------------------------------------------------------------------------------------

  function renderModels(status) {
    const now = status.now_ms;
    const rows = [];
    const add = (entry, state, label) => {
      const row = el('tr', 'model-row' + (entry.model === selectedModel ? ' selected' : ''));
      row.dataset.model = entry.model;
      row.dataset.state = state;
      row.appendChild(el('td', 'model-name', entry.model));
      row.appendChild(el('td', 'state-' + state, label));
      row.appendChild(el('td', null, entry.memory_mb === undefined ? '\u2013' : mib(entry.memory_mb)));
      const since = el('td', null, entry.since_ms === null ? '\u2013' : relative(entry.since_ms, now));
      if (entry.since_ms !== null) since.title = clockTime(entry.since_ms);
      row.appendChild(since);
      row.appendChild(el('td', 'cause', entry.cause + (entry.prewarmed_unused ? ', not used yet' : '')));
      const unload = entry.unload_at_ms;
      const planned = el('td', null, unload === null || unload === undefined ? '\u2013' : relative(unload, now));
      if (unload) planned.title = clockTime(unload);
      row.appendChild(planned);
      row.addEventListener('click', () => selectModel(entry.model));
      rows.push(row);
    };
    // Each list holds at most MODELS_PER_STATE models; a row after it says how many more the daemon has.
    const more = (listed, total, state, label) => {
      const rest = (total || 0) - listed;
      if (rest <= 0) return;
      const row = el('tr', 'more-row');
      row.dataset.state = state;
      row.dataset.more = String(rest);
      const cell = el('td', 'quiet', '\u2026 ' + rest.toLocaleString('en-US') + ' more ' + label + ' (' +
        total.toLocaleString('en-US') + ' in all)');
      cell.colSpan = 6;
      row.appendChild(cell);
      rows.push(row);
    };
    for (const entry of status.warm) add(entry, 'ready', 'warm');
    more(status.warm.length, status.warm_count, 'ready', 'warm');
    for (const entry of status.loading) add(entry, 'loading', 'loading');
    more(status.loading.length, status.loading_count, 'loading', 'loading');
    for (const entry of status.queued) add(entry, 'queued', 'queued');
    more(status.queued.length, status.queued_count, 'queued', 'queued');
    // Models being unloaded still hold their memory. An unload past budgets.unload_timeout_ms (the server has not
    // answered) or one that failed is what an operator must look at: said in the row, in the warning colour.
    const unloading = status.unloading || [];
    for (const entry of unloading.slice(0, MODELS_PER_STATE)) {
      const label = entry.timed_out ? 'unload overdue' : entry.failed ? 'unload failed' : 'unloading';
      const cause = entry.timed_out
        ? 'past its deadline: the server has not answered; its memory stays counted'
        : entry.failed ? 'the server refused it; the next listing checks what it holds' : 'waiting for the server';
      add(Object.assign({}, entry, {cause}), entry.timed_out || entry.failed ? 'unload-trouble' : 'unloading', label);
    }
    more(Math.min(unloading.length, MODELS_PER_STATE), unloading.length, 'unloading', 'being unloaded');
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'quiet', 'No model is loaded, loading, queued or being unloaded.');
      cell.colSpan = 6;
      row.appendChild(cell);
      rows.push(row);
    }
    replaceChildren(byId('model-rows'), rows);
  }

  // ----- timeline of the next hour --------------------------------------------------------------------------------

  function renderTimeline(answer) {
    lastPredictions = answer;
    const now = answer.now_ms;
    const start = now - TIMELINE_PAST_MS;
    const end = now + HOUR_MS;
    const inWindow = (ms) => ms !== null && ms !== undefined && ms >= now && ms <= end;
    // The daemon's selection: the models whose next event (use, pre-warm, unload) in the hour is soonest, in that
    // order, and how many models have one.
    const shown = answer.predictions.slice(0, TIMELINE_ROWS);
    const total = answer.total === undefined ? shown.length : answer.total;
    const more = byId('timeline-more');
    more.textContent = total > shown.length
      ? 'The ' + shown.length + ' models whose next event is soonest; ' + (total - shown.length).toLocaleString('en-US') +
        ' more models (' + total.toLocaleString('en-US') + ' in all) have one in the next hour.'
      : '';
    more.dataset.more = String(Math.max(0, total - shown.length));
    more.hidden = total <= shown.length;

    // Drawn at the chart's own width in CSS pixels, so its text keeps its size on any screen.
    const chart = byId('timeline-chart');
    const width = Math.max(280, Math.round(chart.parentElement.clientWidth));
    const labelWidth = Math.min(170, Math.round(width * 0.3));
    const rowHeight = 24;
    const top = 22;
    const height = top + Math.max(1, shown.length) * rowHeight + 4;
    const x = (ms) => labelWidth + ((Math.min(Math.max(ms, start), end) - start) / (end - start)) * (width - labelWidth - 10);
    chart.setAttribute('width', width);
    chart.setAttribute('height', height);
    chart.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    const nodes = [];

    const axis = svg('g', {class: 'axis'});
    const tickMinutes = width < 600 ? 20 : 10;
    for (let minutes = 0; minutes <= 60; minutes += tickMinutes) {
      const at = x(now + minutes * 60000);
      axis.appendChild(svg('line', {class: 'grid', x1: at, x2: at, y1: top - 4, y2: height}));
      const anchor = minutes === 60 ? 'end' : 'middle';  // the last label ends at the chart's edge
      axis.appendChild(svg('text', {x: at, y: 12, 'text-anchor': anchor}, minutes === 0 ? 'now' : '+' + minutes + ' min'));
    }
    nodes.push(axis);

    if (shown.length === 0) {
      nodes.push(svg('text', {class: 'empty', x: labelWidth + 10, y: top + 16}, 'Nothing loaded or planned in the next hour.'));
    }
    shown.forEach((p, index) => {
      const y = top + index * rowHeight;
      const middle = y + rowHeight / 2;
      const row = svg('g', {class: 'timeline-row', 'data-model': p.model});
      const label = svg('text', {class: 'row-label', x: 4, y: middle + 4}, fitted(p.model, labelWidth - 10));
      label.addEventListener('click', () => selectModel(p.model));
      row.appendChild(svgTitle(label, p.model + ' (' + p.residency + ')'));
      row.appendChild(svg('line', {class: 'grid', x1: labelWidth, x2: width - 10, y1: y + rowHeight, y2: y + rowHeight}));

      if (p.residency === 'ready' || p.residency === 'loading') {
        // A model still loading holds its memory but serves nothing yet: drawn apart from the loaded ones.
        const kind = p.residency === 'ready' ? 'loaded' : 'loading';
        const until = p.planned_unload_at_ms !== null ? p.planned_unload_at_ms : end;
        const band = svg('rect', {class: 'band-' + kind, 'data-kind': kind, 'data-model': p.model, x: x(start),
          y: y + 5, width: Math.max(1, x(until) - x(start)), height: rowHeight - 10});
        row.appendChild(svgTitle(band, p.model + ' ' + kind +
          (p.planned_unload_at_ms !== null ? ' until ' + clockTime(until) : '')));
      }
      if (inWindow(p.planned_warm_start_at_ms)) {
        const at = x(p.planned_warm_start_at_ms);
        const mark = svg('polygon', {class: 'mark-prewarm', 'data-kind': 'prewarm', 'data-model': p.model,
          points: (at - 6) + ',' + (middle - 7) + ' ' + (at + 6) + ',' + middle + ' ' + (at - 6) + ',' + (middle + 7)});
        row.appendChild(svgTitle(mark, 'pre-warm of ' + p.model + ' planned at ' + clockTime(p.planned_warm_start_at_ms) +
          ' (' + relative(p.planned_warm_start_at_ms, now) + ')'));
      }
      if (inWindow(p.next_arrival_ms)) {
        const mark = svg('circle', {class: 'mark-next-use', 'data-kind': 'next-use', 'data-model': p.model,
          cx: x(p.next_arrival_ms), cy: middle, r: 5});
        row.appendChild(svgTitle(mark, 'predicted next use of ' + p.model + ' around ' + clockTime(p.next_arrival_ms) +
          ' (' + relative(p.next_arrival_ms, now) + ', p=' + p.p_use_within_horizon.toFixed(2) + ' within ' +
          Math.round(p.horizon_ms / 60000) + ' min)'));
      }
      if (inWindow(p.planned_unload_at_ms)) {
        const at = x(p.planned_unload_at_ms);
        const mark = svg('line', {class: 'mark-unload', 'data-kind': 'unload', 'data-model': p.model, x1: at, x2: at,
          y1: y + 3, y2: y + rowHeight - 3});
        row.appendChild(svgTitle(mark, 'unload of ' + p.model + ' planned at ' + clockTime(p.planned_unload_at_ms) +
          ' (' + relative(p.planned_unload_at_ms, now) + ')'));
      }
      nodes.push(row);
    });
    const nowLine = svg('line', {class: 'now', 'data-kind': 'now', x1: x(now), x2: x(now), y1: top - 6, y2: height});
    nodes.push(svgTitle(nowLine, 'now: ' + clockTime(now)));
    replaceChildren(chart, nodes);
  }

  // ----- cold requests over the last hour -------------------------------------------------------------------------

  /// Reads the last hour of the daemon's metrics history, at most once a minute; a daemon without state has none.
  async function refreshHistory() {
    const now = Date.now();
    if (now - historyReadAt < HISTORY_REFRESH_MS) return;
    const answer = await getJson('/api/warmup/history?since_ms=' + Math.max(0, now - HOUR_MS));
    historyReadAt = now;
    const usable = (s) => s && Number.isFinite(s.t_ms) && Number.isFinite(s.cold_requests);
    history = answer.enabled ? answer.samples.filter(usable) : [];
    // What the hour's first sample changed from: the daemon's last sample before the hour, or, when its history
    // began within the hour (a new state folder), counters at zero just before its first sample.
    if (history.length > 0) {
      history.unshift(usable(answer.before)
        ? answer.before
        : {t_ms: history[0].t_ms - 1, requests: 0, cold_requests: 0, baseline: true});
    }
  }

  /// The changes between consecutive history samples that end before `before` (ms), within the hour before `now`:
  /// [{t, cold, requests}]. The first one starts at the sample before the hour (history[0]). A counter that went down
  /// (restore, reset) contributes nothing for that interval.
  function historyChanges(before, now) {
    const changes = [];
    for (let i = 1; i < history.length; i += 1) {
      const previous = history[i - 1];
      const current = history[i];
      if (current.t_ms >= before || current.t_ms < now - HOUR_MS) continue;
      const cold = current.cold_requests - previous.cold_requests;
      const requests = (current.requests || 0) - (previous.requests || 0);
      if (cold < 0 || requests < 0) continue;
      changes.push({t: current.t_ms, cold: cold, requests: requests});
    }
    return changes;
  }

  function loadSamples() {
    try {
      const stored = JSON.parse(sessionStorage.getItem(SAMPLES_KEY) || '[]');
      return Array.isArray(stored) ? stored : [];
    } catch (ignored) {
      return [];
    }
  }

  /// Sum of a Prometheus series over the arms that serve traffic (not shadow arms), from the /metrics text.
  function metricSum(text, name, arms) {
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      const arm = /arm="([^"]*)"/.exec(line);
      if (arm && !arms.has(arm[1])) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) sum += value;
    }
    return sum;
  }

  function renderColdRequests(experiments, metrics) {
    const serving = experiments.arms.filter((arm) => arm.mode !== 'shadow');
    const armNames = new Set(serving.map((arm) => arm.name));
    const sample = {
      t: Date.now(),
      requests: serving.reduce((sum, arm) => sum + arm.requests, 0),
      cold: serving.reduce((sum, arm) => sum + arm.cold_requests, 0),
      waitSum: metricSum(metrics, 'warmup_cold_wait_seconds_sum', armNames),
      waitCount: metricSum(metrics, 'warmup_cold_wait_seconds_count', armNames),
    };
    const previous = samples[samples.length - 1];
    if (previous && (sample.requests < previous.requests || sample.cold < previous.cold ||
        sample.waitCount < previous.waitCount)) {
      samples = [];  // the counters went back (restart or state restore): a new hour starts
    }
    samples.push(sample);
    samples = samples.filter((s) => s.t >= sample.t - HOUR_MS);
    sessionStorage.setItem(SAMPLES_KEY, JSON.stringify(samples));

    const first = samples[0];
    // Before the tab's first sample: the daemon's history (control arm), interval by interval, then from its last
    // sample to the tab's first one (the requests since the daemon's last snapshot). That last bridge only without an
    // experiment: the history counts the control arm, the tab's samples every serving arm.
    const earlier = historyChanges(first.t, sample.t);
    const lastBefore = history.filter((s) => s.t_ms < first.t && s.t_ms >= sample.t - HOUR_MS).pop();
    if (lastBefore && serving.length === 1 && first.cold >= lastBefore.cold_requests &&
        first.requests >= (lastBefore.requests || 0)) {
      earlier.push({t: first.t, cold: first.cold - lastBefore.cold_requests,
        requests: first.requests - (lastBefore.requests || 0)});
    }
    const earlierCold = earlier.reduce((sum, change) => sum + change.cold, 0);
    const earlierRequests = earlier.reduce((sum, change) => sum + change.requests, 0);
    const requests = sample.requests - first.requests + earlierRequests;
    const cold = sample.cold - first.cold + earlierCold;
    const waits = sample.waitCount - first.waitCount;
    const historyStart = earlier.length > 0 ? Math.max(history[0].t_ms, sample.t - HOUR_MS) : first.t;
    const span = duration(sample.t - Math.min(first.t, historyStart));
    byId('cold-rate').textContent = requests > 0
      ? percent(cold / requests) + ' (' + cold + ' of ' + requests + ' requests in ' + span + ')'
      : 'no request in the ' + span + ' sampled';
    byId('cold-wait').textContent = waits > 0
      ? ((sample.waitSum - first.waitSum) / waits).toFixed(2) + ' s (' + waits + ' cold requests in ' +
        duration(sample.t - first.t) + ')'
      : '\u2013';
    byId('cold-rate-total').textContent = sample.requests > 0
      ? percent(sample.cold / sample.requests) + ' (' + sample.cold + ' of ' + sample.requests + ')'
      : 'no request yet';
    byId('cold-wait-total').textContent = sample.waitCount > 0
      ? (sample.waitSum / sample.waitCount).toFixed(2) + ' s'
      : '\u2013';
    byId('cold-note').textContent = 'The first two lines cover the last hour (' + span + ' so far): before this ' +
      'tab opened from the daemon\'s metrics history, when it keeps state (control arm, one sample per snapshot), ' +
      'then from this tab\'s own samples; the cold wait only from the latter. Precision: used pre-warms of all finished ones; recall: returns after an idle gap ' +
      'that found the model pre-warmed (both since the daemon started, control arm).';

    const control = experiments.arms.find((arm) => arm.mode === 'control') || experiments.arms[0];
    byId('precision').textContent = control ? percent(control.precision) : '\u2013';
    byId('recall').textContent = control ? percent(control.recall) : '\u2013';

    // Cold requests per minute of the last hour, one bar per minute.
    const chart = byId('cold-chart');
    const width = 600;
    const height = 60;
    chart.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    chart.setAttribute('preserveAspectRatio', 'none');
    const perMinute = new Array(60).fill(0);
    for (const change of earlier) {
      const minute = Math.floor((sample.t - change.t) / 60000);
      if (minute >= 0 && minute < 60) perMinute[59 - minute] += change.cold;
    }
    for (let i = 1; i < samples.length; i += 1) {
      const minute = Math.floor((sample.t - samples[i].t) / 60000);
      if (minute >= 0 && minute < 60) perMinute[59 - minute] += samples[i].cold - samples[i - 1].cold;
    }
    const peak = Math.max(1, ...perMinute);
    const nodes = [svg('line', {class: 'base', x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5})];
    perMinute.forEach((count, index) => {
      if (count <= 0) return;
      const barHeight = (count / peak) * (height - 4);
      const bar = svg('rect', {class: 'bar', x: index * 10 + 1, y: height - barHeight, width: 8, height: barHeight});
      nodes.push(svgTitle(bar, count + ' cold request(s), ' + (59 - index) + ' min ago'));
    });
    replaceChildren(chart, nodes);
    chart.setAttribute('aria-label', 'cold requests per minute over the last hour (peak ' + peak + ')');
  }

  // ----- components -----------------------------------------------------------------------------------------------

  /// One row per component. A component that failed in the last minute is degraded, with why; once it is ok again,
  /// its last error is still shown, as past, with its age, so an operator does not read it as the current state.
  function renderHealth(answer, nowMs) {
    const rows = answer.components.map((component) => {
      const row = el('tr');
      row.dataset.component = component.component;
      const name = el('td', null, component.component);
      if (component.plugin) name.appendChild(el('div', 'detail', component.plugin));
      row.appendChild(name);
      const stateClass = component.state === 'ok' ? 'state-ok' : component.state === 'degraded' ? 'state-degraded'
        : 'state-open';
      const state = el('td', 'reason');
      state.appendChild(el('span', stateClass, component.state + (component.circuit && component.circuit !== 'closed'
        ? ' (' + component.circuit + ')' : '')));
      if (component.reason) {
        state.appendChild(el('div', 'detail', component.reason));
      } else if (component.last_error) {
        const when = component.last_error_unix_ms ? ' ' + relative(component.last_error_unix_ms, nowMs) : '';
        state.appendChild(el('div', 'detail past-error', 'recovered; last error' + when + ': ' + component.last_error));
      }
      row.appendChild(state);
      row.appendChild(el('td', null, component.errors));
      return row;
    });
    replaceChildren(byId('health-rows'), rows);
  }

  // ----- operations -----------------------------------------------------------------------------------------------

  function renderOperations(status) {
    const section = byId('operations');
    section.classList.toggle('emergency', status.emergency_stop);
    byId('operations-state').textContent = status.emergency_stop
      ? 'Emergency stop is on: no new warm-ups, queued ones were cancelled, loaded models are kept. ' +
        '"Resume" lifts it; "Reset to safe" leaves it on the safe configuration.'
      : status.safe_mode
        ? 'Safe mode: keep-alive predictor, no experiment, half the budget, until the next configuration reload.'
        : 'Normal operation.';
    byId('emergency-stop').disabled = status.emergency_stop;
    byId('resume').disabled = !status.emergency_stop;
    // Without a state folder a backup has nowhere to go (the daemon answers 409): said on the button, not after.
    const stateKeeping = status.state_keeping === true;
    const backup = byId('backup-state');
    backup.disabled = !stateKeeping;
    backup.title = !stateKeeping
      ? 'State keeping is off (state.enabled): there is no state folder to back up to'
      : '';
    operations['reset-to-safe'].text = operations['reset-to-safe'].baseText +
      (stateKeeping ? ' A backup "before-reset-to-safe" is taken first.' : '');
  }

  const operations = {
    'emergency-stop': {
      title: 'Emergency stop',
      text: 'Stop all new warm-ups and cancel the queued ones? Loaded models are kept.',
      path: '/api/warmup/emergency-stop',
      confirm: 'Stop warm-ups',
    },
    'resume': {
      title: 'Resume',
      text: 'Lift the emergency stop? Warm-ups start again on the running configuration.',
      path: '/api/warmup/resume',
      confirm: 'Resume',
    },
    'reset-to-safe': {
      title: 'Reset to safe',
      baseText: 'Leave emergency mode on the safe configuration (keep-alive predictor, no experiment, half the ' +
        'budget) until a reload, a rollback or a restart?',
      text: 'Leave emergency mode on the safe configuration (keep-alive predictor, no experiment, half the budget) ' +
        'until a reload, a rollback or a restart?',
      path: '/api/warmup/reset-to-safe',
      confirm: 'Reset to safe',
    },
    'backup-state': {
      title: 'Back up state',
      text: 'Write the learned patterns, predictor state, calibration, counters and warm set to a backup file?',
      path: '/api/warmup/backup-state',
      confirm: 'Back up',
      named: true,
    },
  };

  /// Resolves with {ok, name} after the operator answers the confirmation dialog.
  function confirmOperation(operation) {
    const dialog = byId('confirm-dialog');
    byId('confirm-title').textContent = operation.title;
    byId('confirm-text').textContent = operation.text;
    byId('confirm-ok').textContent = operation.confirm;
    byId('confirm-name-label').hidden = !operation.named;
    byId('confirm-name').value = '';
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', function onClose() {
        dialog.removeEventListener('close', onClose);
        resolve({ok: dialog.returnValue === 'ok', name: byId('confirm-name').value.trim()});
      });
      dialog.showModal();
      (operation.named ? byId('confirm-name') : byId('confirm-cancel')).focus();
    });
  }

  async function runOperation(id) {
    const operation = operations[id];
    const result = byId('operation-result');
    const answer = await confirmOperation(operation);
    if (!answer.ok) {
      result.textContent = operation.title + ': cancelled.';
      return;
    }
    const body = operation.named && answer.name ? {name: answer.name} : undefined;
    try {
      if (access !== 'open' && !token) await askForToken(operation.title + ' needs the daemon\u2019s access token.');
      let response;
      try {
        response = await send('POST', operation.path, body);
      } catch (error) {
        if (!(error instanceof AuthRequired)) throw error;
        await askForToken('The daemon refused the token (' + error.message + '). ' + operation.title + ' needs it.');
        response = await send('POST', operation.path, body);
      }
      const text = await response.text();
      let reply = {};
      try {
        reply = JSON.parse(text);
      } catch (ignored) {
        reply = {error: text};
      }
      const notes = Array.isArray(reply.notes) && reply.notes.length ? ' ' + reply.notes.join('; ') : '';
      result.textContent = response.ok
        ? operation.title + ': done.' + (reply.file ? ' File: ' + reply.file + '.' : '') + notes
        : operation.title + ' failed (HTTP ' + response.status + '): ' + (reply.error || text) + notes;
      result.className = response.ok ? '' : 'state-open';
    } catch (error) {
      result.textContent = operation.title + ' not done: ' + error.message;
      result.className = 'state-open';
    }
    await tick();
  }

  // ----- experiment -----------------------------------------------------------------------------------------------

  function renderExperiment(experiments) {
    const section = byId('experiment');
    section.hidden = !experiments.enabled;
    if (!experiments.enabled) return;
    byId('experiment-split').textContent = '(split by ' + experiments.split + ')';
    const cards = experiments.arms.map((arm) => {
      const card = el('div', 'arm');
      card.dataset.arm = arm.name;
      const title = el('h3', null, arm.name);
      title.appendChild(el('span', 'quiet', arm.mode + (arm.mode === 'shadow' ? '' : ', weight ' + arm.weight)));
      card.appendChild(title);
      const predictor = (arm.plugins || []).find((plugin) => plugin.slot === 'predictor');
      const figures = el('dl');
      const add = (name, value) => {
        figures.appendChild(el('dt', null, name));
        figures.appendChild(el('dd', null, value));
      };
      add('predictor', predictor ? predictor.id.replace(/^org\.warmup\.predictor\./, '') : '\u2013');
      add('memory', mib(arm.used_mb) + ' of ' + mib(arm.budget_mb));
      add('requests', arm.requests);
      add('cold-request rate', percent(arm.cold_request_rate));
      add('pre-warms', arm.prewarms_started);
      add('precision', percent(arm.precision));
      add('recall', percent(arm.recall));
      add('idle GB\u00b7h', arm.idle_gb_h.toFixed(3));
      card.appendChild(figures);
      return card;
    });
    replaceChildren(byId('arms'), cards);
  }

  // ----- decisions of one model -----------------------------------------------------------------------------------

  async function renderDecisions(model) {
    const answer = await getJson('/api/warmup/decisions?model=' + encodeURIComponent(model) + '&limit=' +
      DECISIONS_SHOWN);
    if (model !== selectedModel) return;  // another model was clicked meanwhile
    const rows = answer.decisions.map((decision) => {
      const row = el('tr');
      row.dataset.decision = decision.decision;
      const time = el('td', null, clockTime(decision.at_ms));
      time.title = decision.at;
      row.appendChild(time);
      row.appendChild(el('td', null, decision.arm));
      row.appendChild(el('td', null, decision.decision + (decision.repeats ? ' \u00d7' + decision.repeats : '')));
      row.appendChild(el('td', 'reason', decision.reason));
      row.appendChild(el('td', null, decision.decided_by));
      return row;
    });
    if (rows.length === 0) {
      const row = el('tr');
      const cell = el('td', 'quiet', 'No decision recorded for this model yet.');
      cell.colSpan = 5;
      row.appendChild(cell);
      rows.push(row);
    }
    replaceChildren(byId('decision-rows'), rows);
  }

  async function selectModel(model) {
    selectedModel = model;
    byId('decisions-model').textContent = model;
    byId('decisions').hidden = false;
    for (const row of document.querySelectorAll('#model-rows tr')) {
      row.classList.toggle('selected', row.dataset.model === model);
    }
    try {
      await renderDecisions(model);
      byId('decisions').scrollIntoView({block: 'nearest'});
    } catch (error) {
      showAlert('Cannot read the decisions of ' + model + ': ' + error.message);
    }
  }

  // ----- start ----------------------------------------------------------------------------------------------------

  for (const id of Object.keys(operations)) {
    byId(id).addEventListener('click', () => runOperation(id));
  }
  window.addEventListener('resize', () => {
    if (lastPredictions) renderTimeline(lastPredictions);
  });
  byId('decisions-close').addEventListener('click', () => {
    selectedModel = null;
    byId('decisions').hidden = true;
    for (const row of document.querySelectorAll('#model-rows tr.selected')) row.classList.remove('selected');
  });
  tick();
})();

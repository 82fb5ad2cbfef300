// Switchboard dashboard: a small client of the public REST API, nothing more.
// Event text is attacker-controlled, so API data only ever reaches the page as text nodes
// (see `h`): never through innerHTML, and never as a URL or a style.

const SESSION_KEY = 'switchboard.session';
const LIVE_REFRESH_MS = 3000;
const HOUR_MS = 3600 * 1000;
const STATES = ['pending', 'succeeded', 'failed'];
const CHANNELS = ['whatsapp', 'messenger', 'instagram'];
/** Lists are keyset-paginated; the dashboard reads at most this many rows per view. */
const MAX_ROWS = 2000;

// ---- DOM ---------------------------------------------------------------------------------

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  // Strings become text nodes: append() never parses markup. Absent children are skipped.
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

/** An HTML element with attributes (`on…` ones are listeners) and children. */
const h = (tag, attrs = {}, ...children) => build(document.createElement(tag), attrs, children);
/** The same for SVG, for the charts. */
const svg = (tag, attrs = {}, ...children) =>
  build(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);

const $ = (selector) => document.querySelector(selector);
const say = (text) => { $('#status').textContent = text; };
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '—');
const shortId = (id) => `…${id.slice(-8)}`;
const badge = (state) => h('span', { class: `badge ${state}` }, state);
const link = (hash, text, label) => h('a', { href: hash, 'aria-label': label }, text);
const json = (value) => h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
const notice = (text) => h('p', { class: 'notice' }, text);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A table from column headings and one array of cells per row. */
function table(caption, headings, rows) {
  if (rows.length === 0) return notice(`No ${caption.toLowerCase()}.`);
  return h('table', {},
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, headings.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))));
}

/** A `<dl>` from label/value pairs. */
const facts = (pairs) => h('dl', { class: 'facts' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

// ---- Session and API ---------------------------------------------------------------------

/** `{token, role}` for this tab only: sessionStorage dies with the tab. */
let session = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
const isAdmin = () => session?.role === 'admin';

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`);
    this.status = status;
  }
}

/** Calls the REST API with the session's bearer token; throws ApiError unless 2xx. */
async function api(path, { method = 'GET', body, token = session?.token } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const data = (response.headers.get('content-type') ?? '').includes('json') ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Query string from an object, leaving out empty values. */
const query = (params) =>
  new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString();

/** Every item of a keyset-paginated list (up to MAX_ROWS), following `next`. */
async function listAll(path, params = {}) {
  const items = [];
  let after = null;
  do {
    const page = await api(`${path}?${query({ ...params, after, limit: 500 })}`);
    items.push(...page.items);
    after = page.next;
  } while (after && items.length < MAX_ROWS);
  return items;
}

const truncated = (rows) =>
  (rows.length >= MAX_ROWS ? notice(`Showing the oldest ${MAX_ROWS} only; narrow the time range to see the rest.`) : null);

/** Tenants read their own log; the operator reads every tenant's through the admin routes. */
const deliveriesPath = () => (isAdmin() ? '/v1/admin/deliveries' : '/v1/deliveries');
const NO_ADMIN_LOG = 'This gateway has no admin delivery log (GET /v1/admin/deliveries answered 404). '
  + 'Sign in with a tenant API key to see that tenant\'s deliveries.';

/** Deliveries matching `params`, or null where the admin delivery routes do not exist. */
async function listDeliveries(params) {
  try {
    return await listAll(deliveriesPath(), params);
  } catch (error) {
    if (error.status === 404 && isAdmin()) return null;
    throw error;
  }
}

/** Endpoints by id, to show URLs instead of ids (tenants only: there is no admin route). */
async function endpointsById() {
  return isAdmin() ? new Map() : new Map((await listAll('/v1/endpoints')).map((e) => [e.id, e]));
}
const endpointName = (endpoints, id) => endpoints.get(id)?.url ?? id;

const hoursAgo = (hours) => new Date(Date.now() - hours * HOUR_MS);
/** `datetime-local` inputs speak local time without a zone; the API wants RFC 3339. */
const toApiTime = (local) => (local ? new Date(local).toISOString() : '');
const toLocalInput = (date) => new Date(date - date.getTimezoneOffset() * 60000).toISOString().slice(0, 16);

// ---- Overview ----------------------------------------------------------------------------

/** A bar chart of the last 24 hours; each bar is stacked by `stackOf(item)`. */
function hourlyChart(label, items, timeOf, stackOf) {
  const start = Date.now() - 24 * HOUR_MS;
  const hours = Array.from({ length: 24 }, () => new Map());
  for (const item of items) {
    const hour = Math.floor((timeOf(item) - start) / HOUR_MS);
    const [stacks, key] = [hours[hour], stackOf(item)];
    if (stacks) stacks.set(key, (stacks.get(key) ?? 0) + 1);
  }
  const total = (stacks) => [...stacks.values()].reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...hours.map(total));
  const [width, height, step] = [480, 100, 20];
  const bars = hours.flatMap((stacks, i) => {
    let top = height;
    return [...stacks].map(([key, n]) => {
      const size = (n / max) * height;
      top -= size;
      return svg('rect', { x: i * step + 2, y: top, width: step - 4, height: size, class: `bar ${key}` },
        svg('title', {}, `${n} ${key}, ${24 - i} h ago`));
    });
  });
  const keys = [...new Set(hours.flatMap((stacks) => [...stacks.keys()]))];
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${label}: ${items.length} in 24 hours` },
      svg('line', { x1: 0, x2: width, y1: height, y2: height, class: 'axis' }), bars),
    h('figcaption', {}, `${label} — last 24 h, one bar per hour `,
      keys.map((key) => h('span', { class: `key ${key}` }, key))));
}

const stat = (label, value) => h('div', { class: 'stat' }, h('span', { class: 'value' }, value), h('span', {}, label));

async function overview() {
  const since = hoursAgo(24).toISOString();
  const [recent, backlog, endpoints, events] = await Promise.all([
    listDeliveries({ since }),
    listDeliveries({ state: 'pending' }),
    endpointsById(),
    isAdmin() ? null : listAll('/v1/events', { since }),
  ]);
  const view = h('section', {}, h('h2', {}, 'Overview'));
  if (recent === null) return build(view, {}, [notice(NO_ADMIN_LOG)]);
  const done = recent.filter((d) => d.state !== 'pending');
  const succeeded = done.filter((d) => d.state === 'succeeded').length;
  const failing = [...endpoints.values()].filter((e) => !e.enabled || e.consecutive_failures > 0);
  return build(view, {}, [
    h('div', { class: 'stats' },
      events && stat('events (24 h)', events.length),
      stat('deliveries (24 h)', recent.length),
      stat('success rate (24 h)', done.length ? `${Math.round((100 * succeeded) / done.length)} %` : '—'),
      stat('backlog (pending)', backlog.length),
      !isAdmin() && stat('failing endpoints', failing.length)),
    hourlyChart('Deliveries by state', recent, (d) => Date.parse(d.created_at), (d) => d.state),
    events && hourlyChart('Events by event time', events, (e) => e.timestamp * 1000, () => 'event'),
    !isAdmin() && table('Failing endpoints', ['URL', 'Enabled', 'Consecutive failures', 'Reason', ''],
      failing.map((e) => [e.url, e.enabled ? 'yes' : 'no', e.consecutive_failures, e.disabled_reason ?? '',
        link(`#/deliveries?${query({ endpoint_id: e.id, state: 'failed' })}`, 'Failed deliveries')])),
  ]);
}

// ---- Deliveries --------------------------------------------------------------------------

let fieldCount = 0;
/** A labelled control. The label points at the control rather than wrapping it, so a
 * select's label stays its heading alone (a wrapping label would read its options too). */
function field(label, control) {
  control.id ||= `field-${(fieldCount += 1)}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/** A select of `[value, text]` options showing the URL parameter it is named after; '' is "any". */
function select(params, name, options) {
  const current = params.get(name) ?? '';
  return h('select', { name }, [['', 'any'], ...options].map(([value, text]) =>
    h('option', { value, selected: value === current }, text)));
}

/** A filter form; applying it changes the URL, so a filtered view can be bookmarked. */
function filterForm(route, ...controls) {
  const form = h('form', { class: 'filters', 'aria-label': `Filter ${route}` }, controls, h('button', { type: 'submit' }, 'Apply'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/${route}?${query(Object.fromEntries(new FormData(form)))}`;
  });
  return form;
}

/** A form control showing the current value of the URL parameter it is named after. */
const input = (params, name, type = 'text', fallback = '') => h('input', { name, type, value: params.get(name) ?? fallback });
const timeRange = (params, since = '') => [
  field('Since', input(params, 'since', 'datetime-local', since)),
  field('Until', input(params, 'until', 'datetime-local')),
];
/** The form's values as API query parameters. */
function filterParams(form) {
  const values = Object.fromEntries(new FormData(form));
  return { ...values, since: toApiTime(values.since), until: toApiTime(values.until) };
}

function deliveryFilters(params, endpoints) {
  return filterForm('deliveries',
    isAdmin() ? field('Tenant id', input(params, 'tenant_id')) : null,
    isAdmin()
      ? field('Endpoint id', input(params, 'endpoint_id'))
      : field('Endpoint', select(params, 'endpoint_id',
        [...endpoints.values()].map((e) => [e.id, e.description || e.url]))),
    field('State', select(params, 'state', STATES.map((s) => [s, s]))),
    timeRange(params, toLocalInput(hoursAgo(24))));
}

async function deliveries(params) {
  const endpoints = await endpointsById();
  const filters = deliveryFilters(params, endpoints);
  const rows = await listDeliveries(filterParams(filters));
  const view = h('section', {}, h('h2', {}, 'Deliveries'), filters);
  if (rows === null) return build(view, {}, [notice(NO_ADMIN_LOG)]);
  return build(view, {}, [
    truncated(rows),
    table('Deliveries, newest first', ['Delivery', 'Created', 'State', 'Endpoint', 'Attempts', 'Last status', 'Last error'],
      rows.reverse().map((d) => [
        link(`#/deliveries/${d.id}`, shortId(d.id), `Open delivery ${d.id}`),
        when(d.created_at), badge(d.state), endpointName(endpoints, d.endpoint_id), d.attempt_count,
        d.last_status ?? '—', d.last_error ?? ''])),
  ]);
}

/** Waits (bounded) until a retried delivery has left `pending`, then shows it again. */
async function retry(path) {
  say('Retry queued…');
  await api(`${path}/retry`, { method: 'POST' });
  for (let i = 0; i < 30 && (await api(path)).state === 'pending'; i += 1) await sleep(1000);
  say('Retry finished.');
  await render();
}

async function delivery(_params, id) {
  const path = `${deliveriesPath()}/${encodeURIComponent(id)}`;
  const [d, attempts, endpoints] = await Promise.all([api(path), api(`${path}/attempts`), endpointsById()]);
  // The operator has no event route: events stay the tenant's business.
  const event = isAdmin() ? null : await api(`/v1/events/${encodeURIComponent(d.event_id)}`);
  return h('section', {},
    h('h2', {}, `Delivery ${d.id}`),
    facts([
      ['State', badge(d.state)], ['Endpoint', endpointName(endpoints, d.endpoint_id)], ['Event', d.event_id],
      ['Attempts since queued or retried', String(d.attempt_count)], ['Next attempt', d.state === 'pending' ? when(d.next_attempt_at) : '—'],
      ['Created', when(d.created_at)], ['Last error', d.last_error ?? '—'],
    ]),
    isAdmin() ? null : h('button', { type: 'button', onclick: () => retry(path).catch(showError) }, 'Retry'),
    table('Attempts', ['#', 'Started', 'Duration', 'Status', 'Result', 'Response (excerpt)', 'Error'],
      attempts.map((a) => [
        String(a.attempt_number), when(a.started_at), `${a.duration_ms} ms`, a.status_code ?? '—',
        badge(a.succeeded ? 'succeeded' : 'failed'), h('pre', { class: 'excerpt' }, a.response_body ?? ''), a.error ?? ''])),
    event && eventPanels(event));
}

// ---- Endpoints, events, tenants ----------------------------------------------------------

function recoverForm(endpoint) {
  const since = h('input', { type: 'datetime-local', required: true, value: toLocalInput(hoursAgo(24)) });
  return h('form', {
    class: 'inline',
    'aria-label': `Recover ${endpoint.url}`,
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const { queued } = await api(`/v1/endpoints/${endpoint.id}/recover`,
          { method: 'POST', body: { since: toApiTime(since.value) } });
        say(`Recovery queued ${queued} deliveries for ${endpoint.url}.`);
      } catch (error) { showError(error); }
    },
  }, field('Since', since), h('button', { type: 'submit' }, 'Recover'));
}

async function endpoints() {
  const list = [...(await endpointsById()).values()];
  return h('section', {}, h('h2', {}, 'Endpoints'),
    table('Endpoints', ['URL', 'Description', 'Enabled', 'Disabled because', 'Consecutive failures', 'Deliveries', 'Recover failed and missed deliveries'],
      list.map((e) => [e.url, e.description, e.enabled ? 'yes' : 'no', e.disabled_reason ?? '',
        String(e.consecutive_failures), link(`#/deliveries?${query({ endpoint_id: e.id })}`, 'Deliveries'), recoverForm(e)])));
}

/** The normalized event beside the raw Meta object it was made from. */
function eventPanels(event) {
  const { raw, ...normalized } = event;
  return h('div', { class: 'panels' },
    h('section', {}, h('h3', {}, 'Normalized event'), json(normalized)),
    h('section', {}, h('h3', {}, 'Raw Meta payload'), json(raw)));
}

async function events(params) {
  const filters = filterForm('events',
    field('Channel', select(params, 'channel', CHANNELS.map((c) => [c, c]))),
    field('Type', input(params, 'type')),
    field('Contact', input(params, 'contact')),
    timeRange(params));
  const list = await listAll('/v1/events', filterParams(filters));
  return h('section', {}, h('h2', {}, 'Events'), filters,
    truncated(list),
    table('Events by event time, newest first', ['Event', 'Time', 'Type', 'Channel', 'Contact', 'Text'],
      list.reverse().map((e) => [link(`#/events/${e.id}`, shortId(e.id), `Open event ${e.id}`),
        when(e.timestamp * 1000), e.type, e.channel, e.contact ?? '', e.text ?? ''])));
}

async function event(_params, id) {
  const e = await api(`/v1/events/${encodeURIComponent(id)}`);
  return h('section', {}, h('h2', {}, `Event ${e.id}`), eventPanels(e));
}

async function tenants() {
  const list = await listAll('/v1/tenants');
  return h('section', {}, h('h2', {}, 'Tenants'),
    table('Tenants', ['Name', 'Id', 'Disabled', 'Created', 'Deliveries'],
      list.map((t) => [t.name, t.id, t.disabled ? 'yes' : 'no', when(t.created_at),
        link(`#/deliveries?${query({ tenant_id: t.id })}`, 'Deliveries', `Deliveries of ${t.name}`)])));
}

// ---- Routing -----------------------------------------------------------------------------

const VIEWS = {
  overview: { title: 'Overview', render: overview },
  deliveries: { title: 'Deliveries', render: deliveries, detail: delivery },
  endpoints: { title: 'Endpoints', render: endpoints, tenant: true },
  events: { title: 'Events', render: events, detail: event, tenant: true },
  tenants: { title: 'Tenants', render: tenants, admin: true },
};
const allowed = (view) => (isAdmin() ? !view.tenant : !view.admin);

function showError(error) {
  if (error.status === 401) return signOut('The credentials were refused; sign in again.');
  $('#view').replaceChildren(h('p', { class: 'error', role: 'alert' }, `Error: ${error.message}`));
}

let renders = 0;
/** Renders the view the URL names (`#/name[/id][?filters]`). */
async function render() {
  const turn = ++renders;
  const [path, search] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, id] = path.split('/');
  const view = VIEWS[name];
  if (!view || !allowed(view)) { location.hash = '#/overview'; return; }
  document.title = `${view.title} · Switchboard`;
  for (const a of $('#nav').children) a.toggleAttribute('aria-current', a.dataset.view === name);
  try {
    const node = await (id ? view.detail : view.render)(new URLSearchParams(search), decodeURIComponent(id ?? ''));
    if (turn === renders) $('#view').replaceChildren(node); // a later navigation wins
  } catch (error) {
    showError(error);
  }
}

function showSignedIn() {
  const signedIn = session !== null;
  $('#sign-in').hidden = signedIn;
  $('#nav').hidden = !signedIn;
  $('#session').hidden = !signedIn;
  if (!signedIn) { $('#view').replaceChildren(); $('#token').focus(); return; }
  $('#who').textContent = isAdmin() ? 'Operator' : 'Tenant';
  $('#nav').replaceChildren(...Object.entries(VIEWS).filter(([, v]) => allowed(v))
    .map(([name, v]) => h('a', { href: `#/${name}`, 'data-view': name }, v.title)));
  render();
}

function signOut(message = '') {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $('#sign-in-error').textContent = message;
  showSignedIn();
}

/** Tells an admin token from a tenant key by asking one route of each kind. */
async function signIn(token) {
  for (const [role, probe] of [['admin', '/v1/tenants?limit=1'], ['tenant', '/v1/endpoints?limit=1']]) {
    try {
      await api(probe, { token });
      return { token, role };
    } catch (error) {
      if (error.status !== 401) throw error;
    }
  }
  return null;
}

$('#sign-in').addEventListener('submit', async (e) => {
  e.preventDefault();
  try {
    session = await signIn($('#token').value.trim());
  } catch (error) {
    $('#sign-in-error').textContent = `Error: ${error.message}`;
    return;
  }
  if (!session) { $('#sign-in-error').textContent = 'That token was not accepted.'; return; }
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  $('#token').value = '';
  $('#sign-in-error').textContent = '';
  showSignedIn();
});
$('#sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { say(''); render(); $('#main').focus(); });
// Live refresh re-renders the current view, but never under a user who is typing in it.
setInterval(() => {
  if ($('#live').checked && session && !document.activeElement?.closest('#view form')) render();
}, LIVE_REFRESH_MS);
showSignedIn();

// Plain script: the page's only code. It sees `window.waxseal` (the preload allow-list) only.
'use strict';

function row(cells) {
  const tr = document.createElement('tr');
  for (const [text, cls] of cells) {
    const td = document.createElement('td');
    td.textContent = String(text);
    if (cls) td.className = cls;
    tr.append(td);
  }
  return tr;
}

async function refresh() {
  const res = await window.waxseal.status();
  const error = document.getElementById('error');
  if (!res.ok) {
    error.hidden = false;
    error.textContent = res.error;
    document.getElementById('who').textContent = 'not running';
    return;
  }
  error.hidden = true;
  const s = res.status;
  document.getElementById('who').textContent = `${s.email} · ${s.offline ? 'offline' : 'online'}`;
  const services = document.getElementById('services');
  services.replaceChildren(...Object.entries(s.services).map(([name, v]) => row([[name], [v.state], [v.port ? `${v.host}:${v.port}` : '']])));
  const boxes = document.getElementById('mailboxes');
  boxes.replaceChildren(...s.mailboxes.map((m) => row([[m.name], [m.messages, 'n'], [`${m.unseen} unseen`, 'n']])));
}

refresh();
setInterval(refresh, 2000);

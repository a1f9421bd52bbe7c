/**
 * The tray app: hosts the same daemon as `waxseal serve` and shows its status. It talks to
 * the core through the daemon's public API only; the renderer gets the allow-listed preload
 * API and nothing else (context isolation and sandbox on, strict CSP in the page).
 */
import { app, BrowserWindow, ipcMain, Menu, nativeImage, Tray } from 'electron';
import { fileURLToPath } from 'node:url';
import { startEmbedded, type EmbeddedDaemon } from '../../src/daemon/embedded.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
let daemon: EmbeddedDaemon | undefined;
let startError: string | undefined;
let tray: Tray | undefined;
let window: BrowserWindow | undefined;

function showWindow(): void {
  if (window) return window.show();
  window = new BrowserWindow({
    width: 520,
    height: 560,
    title: 'Waxseal',
    webPreferences: {
      preload: here('../preload/preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
    },
  });
  window.setMenuBarVisibility(false);
  void window.loadFile(here('../../../app/renderer/index.html'));
  window.on('closed', () => (window = undefined));
}

// The only calls the renderer can make; each returns plain JSON.
ipcMain.handle('waxseal:status', () => (daemon ? { ok: true, status: daemon.daemon.status() } : { ok: false, error: startError ?? 'starting' }));

app.whenReady().then(async () => {
  try {
    daemon = await startEmbedded({ log: (line) => console.log(line) });
  } catch (err) {
    startError = (err as Error).message;
  }
  const icon = nativeImage.createFromPath(here('../../../assets/tray.png'));
  tray = new Tray(icon);
  tray.setToolTip(daemon ? `Waxseal — ${daemon.daemon.status().email}` : 'Waxseal — not running');
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Status…', click: showWindow },
      { type: 'separator' },
      { label: 'Quit Waxseal', click: () => app.quit() },
    ]),
  );
  showWindow();
});

app.on('window-all-closed', () => {
  // Keep running in the tray: mail clients still need the servers.
});

let stopping = false;
app.on('before-quit', (event) => {
  if (stopping || !daemon) return;
  event.preventDefault();
  stopping = true;
  void daemon.daemon.stop().finally(() => app.quit());
});

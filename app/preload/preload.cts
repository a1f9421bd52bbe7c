// The renderer's whole API: an allow-list of named calls, nothing of Node or Electron.
// CommonJS (.cts) because sandboxed preload scripts cannot be ES modules.
import electron = require('electron');

electron.contextBridge.exposeInMainWorld('waxseal', {
  status: (): Promise<unknown> => electron.ipcRenderer.invoke('waxseal:status'),
});

// The door page's QR decoder where the browser has no BarcodeDetector: jsQR (vendor/README.md) in a worker, so a
// slow frame never stalls the page. One frame in (grey-scale-able RGBA), the code or null out.
"use strict";
importScripts("/kiosk/static/vendor/jsQR.js");
self.onmessage = (event) => {
  const { data, width, height } = event.data;
  let code = null;
  try {
    const found = jsQR(new Uint8ClampedArray(data), width, height, { inversionAttempts: "attemptBoth" });
    code = found && found.data ? found.data : null;
  } catch (_) {
    code = null;
  }
  self.postMessage({ code });
};

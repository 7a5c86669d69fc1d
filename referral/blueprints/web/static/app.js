// Small enhancements of the server-rendered pages; every page works without them.
"use strict";

// Slip codes by camera, where the browser can read QR codes (BarcodeDetector).
function setUpScanner(form) {
  const button = form.querySelector("[data-scan]");
  const video = form.querySelector("video");
  if (!button || !video || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", async () => {
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (error) {
      return; // no camera, or permission refused: typing the code still works
    }
    const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    video.srcObject = stream;
    video.hidden = false;
    await video.play();
    const look = async () => {
      const codes = await detector.detect(video).catch(() => []);
      if (codes.length) {
        stream.getTracks().forEach((track) => track.stop());
        video.hidden = true;
        form.querySelector("input[name=code]").value = codes[0].rawValue;
        form.submit();
        return;
      }
      requestAnimationFrame(look);
    };
    look();
  });
}

document.querySelectorAll("[data-slip-finder]").forEach(setUpScanner);

// Signing out forgets the kept copy of the intake page (it names the account). What waits
// to be sent stays, encrypted, for the next sign-in.
document.querySelectorAll("form[action$='/logout']").forEach((form) => {
  form.addEventListener("submit", () => {
    if (window.caches) caches.delete("pages");
  });
});

// The service worker keeps the intake page, its scripts and the directory for offline use.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}

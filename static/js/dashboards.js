// Dashboards: tooltips on hover and focus, and PNG downloads drawn from the server's SVG.
// No data is computed here: every figure and tooltip comes from the page.
(function () {
  "use strict";
  var tip = document.querySelector(".chart-tip");

  function show(cell) {
    if (!tip) { return; }
    tip.textContent = cell.getAttribute("data-tip");
    tip.hidden = false;
    var box = cell.getBoundingClientRect();
    var left = Math.max(8, Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - tip.offsetWidth - 8));
    tip.style.left = left + "px";
    tip.style.top = (window.scrollY + box.bottom + 6) + "px";
  }

  function hide() {
    if (tip) { tip.hidden = true; }
  }

  document.querySelectorAll(".chart-cell[data-tip]").forEach(function (cell) {
    cell.addEventListener("mouseenter", function () { show(cell); });
    cell.addEventListener("focus", function () { show(cell); });
    cell.addEventListener("mouseleave", hide);
    cell.addEventListener("blur", hide);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { hide(); }
  });

  function savePng(button) {
    fetch(button.getAttribute("data-svg"), { credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (text) {
        var image = new Image();
        image.onload = function () {
          var scale = 2;
          var canvas = document.createElement("canvas");
          canvas.width = image.naturalWidth * scale;
          canvas.height = image.naturalHeight * scale;
          var context = canvas.getContext("2d");
          context.fillStyle = "#ffffff";
          context.fillRect(0, 0, canvas.width, canvas.height);
          context.scale(scale, scale);
          context.drawImage(image, 0, 0);
          canvas.toBlob(function (blob) {
            var link = document.createElement("a");
            link.href = URL.createObjectURL(blob);
            link.download = button.getAttribute("data-filename");
            document.body.appendChild(link);
            link.click();
            link.remove();
            setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
          }, "image/png");
        };
        // A data: URL, which the self-only Content-Security-Policy allows for images.
        image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
      });
  }

  document.querySelectorAll(".png-download").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { savePng(button); });
  });
})();

/*
 * mailrelay-form.js - dependency-free contact-form helper for a mailrelay channel.
 *
 * <form data-mailrelay-api="https://relay.example.com" data-mailrelay-form="contact"
 *       data-mailrelay-secret="the form's secret (only if require_nonce)">
 *   <input name="email" type="email" required> <textarea name="message" required></textarea>
 *   <input name="_gotcha" tabindex="-1" autocomplete="off" hidden>   <!-- honeypot: leave empty -->
 *   <button>Send</button> <p data-mailrelay-status role="status"></p>
 * </form>
 * <script src="mailrelay-form.js" defer></script>
 *
 * On submit: fetch a single-use nonce, hash = SHA-256(nonce + secret) with Web Crypto, POST the fields as JSON,
 * and show the outcome - the relay's own message on failure, never a silent loss.
 * Web Crypto needs a secure context: https, or http://localhost / 127.0.0.1 while developing.
 */
(function () {
  "use strict";

  async function sha256Hex(text) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function show(form, text, state) {
    const status = form.querySelector("[data-mailrelay-status]");
    if (status) {
      status.textContent = text;
      status.dataset.state = state;
    }
  }

  async function readError(response) {
    try {
      const body = await response.json();
      return body.message || body.error || "HTTP " + response.status;
    } catch (_) {
      return "HTTP " + response.status;
    }
  }

  async function submit(form, event) {
    event.preventDefault();
    const api = form.dataset.mailrelayApi.replace(/\/+$/, "");
    const name = encodeURIComponent(form.dataset.mailrelayForm);
    const secret = form.dataset.mailrelaySecret;
    const button = form.querySelector("button, [type=submit]");
    if (button) button.disabled = true;
    show(form, "Sending…", "sending");
    try {
      const fields = {};
      new FormData(form).forEach((value, key) => {
        if (typeof value === "string") fields[key] = key in fields ? fields[key] + ", " + value : value;
      });
      if (secret) {
        const issued = await fetch(api + "/v1/nonce?form=" + name, { headers: { Accept: "application/json" } });
        if (!issued.ok) throw new Error(await readError(issued));
        const { nonce } = await issued.json();
        fields.nonce = nonce;
        fields.hash = await sha256Hex(nonce + secret);
      }
      const response = await fetch(api + "/v1/forms/" + name, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(fields),
      });
      if (!response.ok) {
        const retry = response.headers.get("Retry-After");
        throw new Error((await readError(response)) + (retry ? " (try again in " + retry + " s)" : ""));
      }
      form.reset();
      show(form, form.dataset.mailrelaySuccess || "Thank you! Your message was sent.", "sent");
    } catch (error) {
      show(form, "Your message was not sent: " + error.message, "error");
    } finally {
      if (button) button.disabled = false;
    }
  }

  document.querySelectorAll("form[data-mailrelay-form]").forEach((form) => {
    form.addEventListener("submit", (event) => submit(form, event));
  });
})();

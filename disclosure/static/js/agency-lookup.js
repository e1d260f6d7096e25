// The agency type-ahead: an input with data-agency-lookup="<the look-up URL>" offers, as the person types, the
// directory's agencies whose name or alias starts with or is close to what they typed ("FBI" offers Federal Bureau
// of Investigation). Suggestions go into the input's <datalist> (its `list` attribute; made when absent), each
// with the agency's canonical name as the value and its country and status as the label. When the input has
// data-agency-country="<id of the country input>", choosing a suggestion fills that country in too.
// Without script the input stays a plain text field (and any datalist the server filled stays as it was).
// The page must allow `connect-src 'self'` in its Content-Security-Policy.
(function () {
  "use strict";
  var WAIT_MS = 200;
  var SHORTEST = 2;

  function datalistFor(input) {
    var list = input.list;
    if (list) { return list; }
    list = document.createElement("datalist");
    list.id = (input.id || "agency") + "-suggestions";
    input.insertAdjacentElement("afterend", list);
    input.setAttribute("list", list.id);
    return list;
  }

  function describe(match) {
    var parts = [match.country, match.verified ? "verified" : "unverified"];
    if (match.alias) { parts.push("known as " + match.matched); }
    return parts.join(" · ");
  }

  function attach(input) {
    var url = input.getAttribute("data-agency-lookup");
    if (!url || !window.fetch) { return; }
    var list = datalistFor(input);
    var country = input.dataset.agencyCountry ? document.getElementById(input.dataset.agencyCountry) : null;
    var timer = null;
    var asked = 0;
    var shown = [];

    function fill(matches) {
      shown = matches;
      while (list.firstChild) { list.removeChild(list.firstChild); }
      matches.forEach(function (match) {
        var option = document.createElement("option");
        option.value = match.name;
        option.label = describe(match);
        option.textContent = describe(match);
        list.appendChild(option);
      });
    }

    function ask() {
      var query = input.value.trim();
      if (query.length < SHORTEST) { return; }
      var mine = ++asked;
      var separator = url.indexOf("?") === -1 ? "?" : "&";
      fetch(url + separator + "q=" + encodeURIComponent(query), {
        credentials: "same-origin",
        headers: { "Accept": "application/json" }
      })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.json();
        })
        .then(function (body) {
          if (mine === asked) { fill(body.matches || []); }
        })
        .catch(function () { /* the field stays a plain text input */ });
    }

    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      var chosen = shown.filter(function (match) { return match.name === input.value; })[0];
      if (chosen && country) {
        country.value = chosen.country;
        return;
      }
      timer = window.setTimeout(ask, WAIT_MS);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-agency-lookup]"), attach);
}());

/* Sijill's page behaviour: the page's language for FAB's pickers, server-side
   pickers, digits in both scripts, and the live reading of a national ID
   while it is typed.

   Loaded after jQuery, bootstrap-datepicker and select2 but before FAB's
   ab.js, so that the defaults below are in place when FAB starts its pickers. */
(function ($) {
  "use strict";
  var ARABIC_DIGITS = /[\u0660-\u0669\u06F0-\u06F9]/g;
  var HAS_ARABIC_DIGIT = /[\u0660-\u0669\u06F0-\u06F9]/;
  /* A text typed as a number (the server uses the same rule: app/i18n.py). */
  var DIGIT_SHAPED = /^[\s0-9\u0660-\u0669\u06F0-\u06F9+\-\/().\u066B\u066C]*$/;
  function westernDigits(text) {
    return text.replace(ARABIC_DIGITS, function (d) {
      var c = d.charCodeAt(0);
      return String((c >= 0x06F0 ? c - 0x06F0 : c - 0x0660));
    });
  }
  window.sijillWesternDigits = westernDigits;

  /* The page's words, rendered from the catalog by appbuilder/init.html. */
  var T = {lang: "ar", dir: "rtl", dateFormat: "yyyy-mm-dd"};
  var node = document.getElementById("sijill-i18n");
  if (node) {
    try { T = $.extend(T, JSON.parse(node.textContent)); } catch (e) { /* keep the defaults */ }
  }
  function count(template, n) { return String(template || "").replace("{n}", n); }

  /* Date picker: one format everywhere (yyyy-mm-dd, as the server reads and
     shows dates), the page's language and direction, weeks from Saturday. */
  if ($.fn.datepicker) {
    $.extend($.fn.datepicker.defaults, {
      format: T.dateFormat, autoclose: true, todayHighlight: true, todayBtn: "linked",
      language: ($.fn.datepicker.dates[T.lang] ? T.lang : "en"), rtl: T.dir === "rtl",
      weekStart: T.lang === "ar" ? 6 : 1, orientation: T.dir === "rtl" ? "bottom right" : "bottom left"
    });
    if ($.fn.datepicker.dates[T.lang]) {
      $.fn.datepicker.dates[T.lang].today = T.today || $.fn.datepicker.dates[T.lang].today;
      $.fn.datepicker.dates[T.lang].clear = T.clear || $.fn.datepicker.dates[T.lang].clear;
    }
    /* FAB's list filters call $.fn.datetimepicker, a plugin FAB does not ship
       (a TypeError on adding a date filter): the date picker stands in. */
    if (!$.fn.datetimepicker) {
      $.fn.datetimepicker = function () { return this.datepicker({format: T.dateFormat}); };
    }
  }

  /* select2: the page's direction and language; FAB passes an English
     placeholder ("Select a State") of its own, replaced by the catalog's. */
  if ($.fn.select2) {
    var select2Language = {
      errorLoading: function () { return T.errorLoading; },
      inputTooLong: function (a) { return count(T.inputTooLong, a.input.length - a.maximum); },
      inputTooShort: function (a) { return count(T.inputTooShort, a.minimum - a.input.length); },
      loadingMore: function () { return T.loadingMore; },
      maximumSelected: function (a) { return count(T.maximumSelected, a.maximum); },
      noResults: function () { return T.noResults; },
      searching: function () { return T.searching; },
      removeAllItems: function () { return T.removeAllItems; }
    };
    if ($.fn.select2.defaults) {
      $.fn.select2.defaults.set("dir", T.dir);
      $.fn.select2.defaults.set("language", select2Language);
    }
    var fabSelect2 = $.fn.select2;
    var wrapped = function (options) {
      if (options && typeof options === "object") {
        options = $.extend({}, options);
        if (options.placeholder === "Select a State" || options.placeholder === "Select") {
          options.placeholder = T.choose;
        }
        options.dir = options.dir || T.dir;
        options.language = options.language || select2Language;
        return fabSelect2.call(this, options);
      }
      return fabSelect2.apply(this, arguments);
    };
    $.extend(wrapped, fabSelect2);
    $.fn.select2 = wrapped;
  }

  function initPickers(root) {
    $(root).find("select.sijill-picker").each(function () {
      var $el = $(this);
      $el.select2({
        dir: T.dir,
        placeholder: $el.data("placeholder") || "",
        allowClear: true,
        minimumInputLength: 1,
        width: "100%",
        ajax: {
          url: $el.data("url"),
          dataType: "json",
          delay: 250,
          data: function (params) {
            return {q: westernDigits(params.term || ""), page: params.page || 1};
          },
          processResults: function (data) { return data; }
        }
      });
    });
  }

  /* select2 4.0 with jQuery 3.6+ no longer puts the cursor in the search box
     when a picker opens (a known regression of that pairing): the clerk would
     have to click twice.
     Focus it ourselves. */
  $(document).on("select2:open", function () {
    var field = document.querySelector(".select2-container--open .select2-search__field");
    if (field) { field.focus(); }
  });

  function initNationalIdPreview() {
    var $input = $("input#national_id");
    var $box = $("#sijill-nid-preview");
    if (!$input.length || !$box.length) { return; }
    var timer = null;
    $input.on("input", function () {
      clearTimeout(timer);
      var value = westernDigits($input.val()).replace(/[\s-]/g, "");
      if (value.length < 14) { $box.text("").removeClass("text-danger text-success"); return; }
      timer = setTimeout(function () {
        $.getJSON($box.data("url"), {nid: value}, function (r) {
          if (r.ok) {
            $box.removeClass("text-danger").addClass("text-success")
              .text($box.data("born") + " " + r.birth_date + " — " +
                    (r.gender === "M" ? $box.data("male") : $box.data("female")) + " — " + r.governorate +
                    (r.warning ? " — " + r.warning : ""));
          } else {
            $box.removeClass("text-success").addClass("text-danger").text(r.error);
          }
        });
      }, 200);
    });
  }

  /* Digits typed in Arabic-Indic become Western in any text input that holds
     a number (ID, phone, date, search), as the server would store them. */
  function normaliseDigits(input) {
    var value = input.value;
    if (value && HAS_ARABIC_DIGIT.test(value) && DIGIT_SHAPED.test(value)) {
      input.value = westernDigits(value);
    }
  }
  var TEXT_INPUTS = "input[type=text], input[type=search], input[type=tel], input:not([type])";

  $(function () {
    initPickers(document);
    initNationalIdPreview();
    $(document).on("change", TEXT_INPUTS, function () { normaliseDigits(this); });
    $(document).on("submit", "form", function () {
      $(this).find(TEXT_INPUTS).each(function () { normaliseDigits(this); });
    });
    /* FAB's list actions alert in English when no row is ticked. */
    if (typeof window.ab_alert === "function" && T.noRowSelected) {
      var fabAlert = window.ab_alert;
      window.ab_alert = function (text) {
        return fabAlert(text === "No row selected" ? T.noRowSelected : text);
      };
    }
  });
})(jQuery);

/* Sijill's page behaviour: server-side pickers, digits in both scripts,
   and the live reading of a national ID while it is typed. */
(function ($) {
  "use strict";
  var ARABIC_DIGITS = /[\u0660-\u0669\u06F0-\u06F9]/g;
  function westernDigits(text) {
    return text.replace(ARABIC_DIGITS, function (d) {
      var c = d.charCodeAt(0);
      return String((c >= 0x06F0 ? c - 0x06F0 : c - 0x0660));
    });
  }
  window.sijillWesternDigits = westernDigits;

  function initPickers(root) {
    $(root).find("select.sijill-picker").each(function () {
      var $el = $(this);
      $el.select2({
        dir: document.documentElement.dir || "rtl",
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

  $(function () {
    initPickers(document);
    initNationalIdPreview();
    /* Digits typed in Arabic-Indic are converted for inputs that take digits. */
    $(document).on("change", "input.sijill-digits, input#national_id, input#mobile, input[name$='_date']",
      function () { this.value = westernDigits(this.value); });
  });
})(jQuery);

/* global document */
// Sends the SAML message on to the application at once; without JavaScript the visible button does the same.
const form = document.querySelector('form[data-autosubmit]');
if (form) form.submit();

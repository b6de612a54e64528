// htm bound to Preact: tagged templates instead of JSX, so the page needs no build step.
// Interpolated values become text nodes or attributes, never HTML: user data cannot inject markup.
import { h } from "preact";
import htm from "htm";

export const html = htm.bind(h);

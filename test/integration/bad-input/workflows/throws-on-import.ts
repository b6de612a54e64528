// A workflow module with a side effect at import that fails (a bad-input fixture).
throw new Error("cannot connect to the payments API");

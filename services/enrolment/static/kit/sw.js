(() => {
  // <define:self.__WB_MANIFEST>
  var define_self_WB_MANIFEST_default = [{ url: "/kit/index.html", revision: "183a16a7385637f3" }, { url: "/kit/app.js", revision: "b1754ba37470b210" }, { url: "/kit/kit.css", revision: "5eff5631d47b845a" }, { url: "/kit/manifest.webmanifest", revision: "c2be095e60e9c3e5" }, { url: "/kit/icon.svg", revision: "9c2c036549fa71d0" }];

  // node_modules/workbox-core/_version.js
  try {
    self["workbox:core:7.4.0"] && _();
  } catch {
  }

  // node_modules/workbox-core/models/messages/messageGenerator.js
  var fallback = (code, ...args) => {
    let msg = code;
    return args.length > 0 && (msg += ` :: ${JSON.stringify(args)}`), msg;
  };
  var messageGenerator = fallback;

  // node_modules/workbox-core/_private/WorkboxError.js
  var WorkboxError = class extends Error {
    /**
     *
     * @param {string} errorCode The error code that
     * identifies this particular error.
     * @param {Object=} details Any relevant arguments
     * that will help developers identify issues should
     * be added as a key on the context object.
     */
    constructor(errorCode, details) {
      let message = messageGenerator(errorCode, details);
      super(message), this.name = errorCode, this.details = details;
    }
  };

  // node_modules/workbox-core/models/quotaErrorCallbacks.js
  var quotaErrorCallbacks = /* @__PURE__ */ new Set();

  // node_modules/workbox-core/_private/cacheNames.js
  var _cacheNameDetails = {
    googleAnalytics: "googleAnalytics",
    precache: "precache-v2",
    prefix: "workbox",
    runtime: "runtime",
    suffix: typeof registration < "u" ? registration.scope : ""
  }, _createCacheName = (cacheName) => [_cacheNameDetails.prefix, cacheName, _cacheNameDetails.suffix].filter((value) => value && value.length > 0).join("-"), eachCacheNameDetail = (fn) => {
    for (let key of Object.keys(_cacheNameDetails))
      fn(key);
  }, cacheNames = {
    updateDetails: (details) => {
      eachCacheNameDetail((key) => {
        typeof details[key] == "string" && (_cacheNameDetails[key] = details[key]);
      });
    },
    getGoogleAnalyticsName: (userCacheName) => userCacheName || _createCacheName(_cacheNameDetails.googleAnalytics),
    getPrecacheName: (userCacheName) => userCacheName || _createCacheName(_cacheNameDetails.precache),
    getPrefix: () => _cacheNameDetails.prefix,
    getRuntimeName: (userCacheName) => userCacheName || _createCacheName(_cacheNameDetails.runtime),
    getSuffix: () => _cacheNameDetails.suffix
  };

  // node_modules/workbox-core/_private/cacheMatchIgnoreParams.js
  function stripParams(fullURL, ignoreParams) {
    let strippedURL = new URL(fullURL);
    for (let param of ignoreParams)
      strippedURL.searchParams.delete(param);
    return strippedURL.href;
  }
  async function cacheMatchIgnoreParams(cache, request, ignoreParams, matchOptions) {
    let strippedRequestURL = stripParams(request.url, ignoreParams);
    if (request.url === strippedRequestURL)
      return cache.match(request, matchOptions);
    let keysOptions = Object.assign(Object.assign({}, matchOptions), { ignoreSearch: !0 }), cacheKeys = await cache.keys(request, keysOptions);
    for (let cacheKey of cacheKeys) {
      let strippedCacheKeyURL = stripParams(cacheKey.url, ignoreParams);
      if (strippedRequestURL === strippedCacheKeyURL)
        return cache.match(cacheKey, matchOptions);
    }
  }

  // node_modules/workbox-core/_private/canConstructResponseFromBodyStream.js
  var supportStatus;
  function canConstructResponseFromBodyStream() {
    if (supportStatus === void 0) {
      let testResponse = new Response("");
      if ("body" in testResponse)
        try {
          new Response(testResponse.body), supportStatus = !0;
        } catch {
          supportStatus = !1;
        }
      supportStatus = !1;
    }
    return supportStatus;
  }

  // node_modules/workbox-core/_private/Deferred.js
  var Deferred = class {
    /**
     * Creates a promise and exposes its resolve and reject functions as methods.
     */
    constructor() {
      this.promise = new Promise((resolve, reject) => {
        this.resolve = resolve, this.reject = reject;
      });
    }
  };

  // node_modules/workbox-core/_private/executeQuotaErrorCallbacks.js
  async function executeQuotaErrorCallbacks() {
    for (let callback of quotaErrorCallbacks)
      await callback();
  }

  // node_modules/workbox-core/_private/getFriendlyURL.js
  var getFriendlyURL = (url) => new URL(String(url), location.href).href.replace(new RegExp(`^${location.origin}`), "");

  // node_modules/workbox-core/_private/timeout.js
  function timeout(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // node_modules/workbox-core/_private/waitUntil.js
  function waitUntil(event, asyncFn) {
    let returnPromise = asyncFn();
    return event.waitUntil(returnPromise), returnPromise;
  }

  // node_modules/workbox-core/copyResponse.js
  async function copyResponse(response, modifier) {
    let origin = null;
    if (response.url && (origin = new URL(response.url).origin), origin !== self.location.origin)
      throw new WorkboxError("cross-origin-copy-response", { origin });
    let clonedResponse = response.clone(), responseInit = {
      headers: new Headers(clonedResponse.headers),
      status: clonedResponse.status,
      statusText: clonedResponse.statusText
    }, modifiedResponseInit = modifier ? modifier(responseInit) : responseInit, body = canConstructResponseFromBodyStream() ? clonedResponse.body : await clonedResponse.blob();
    return new Response(body, modifiedResponseInit);
  }

  // node_modules/workbox-core/clientsClaim.js
  function clientsClaim() {
    self.addEventListener("activate", () => self.clients.claim());
  }

  // node_modules/workbox-precaching/_version.js
  try {
    self["workbox:precaching:7.4.0"] && _();
  } catch {
  }

  // node_modules/workbox-precaching/utils/createCacheKey.js
  var REVISION_SEARCH_PARAM = "__WB_REVISION__";
  function createCacheKey(entry) {
    if (!entry)
      throw new WorkboxError("add-to-cache-list-unexpected-type", { entry });
    if (typeof entry == "string") {
      let urlObject = new URL(entry, location.href);
      return {
        cacheKey: urlObject.href,
        url: urlObject.href
      };
    }
    let { revision, url } = entry;
    if (!url)
      throw new WorkboxError("add-to-cache-list-unexpected-type", { entry });
    if (!revision) {
      let urlObject = new URL(url, location.href);
      return {
        cacheKey: urlObject.href,
        url: urlObject.href
      };
    }
    let cacheKeyURL = new URL(url, location.href), originalURL = new URL(url, location.href);
    return cacheKeyURL.searchParams.set(REVISION_SEARCH_PARAM, revision), {
      cacheKey: cacheKeyURL.href,
      url: originalURL.href
    };
  }

  // node_modules/workbox-precaching/utils/PrecacheInstallReportPlugin.js
  var PrecacheInstallReportPlugin = class {
    constructor() {
      this.updatedURLs = [], this.notUpdatedURLs = [], this.handlerWillStart = async ({ request, state }) => {
        state && (state.originalRequest = request);
      }, this.cachedResponseWillBeUsed = async ({ event, state, cachedResponse }) => {
        if (event.type === "install" && state && state.originalRequest && state.originalRequest instanceof Request) {
          let url = state.originalRequest.url;
          cachedResponse ? this.notUpdatedURLs.push(url) : this.updatedURLs.push(url);
        }
        return cachedResponse;
      };
    }
  };

  // node_modules/workbox-precaching/utils/PrecacheCacheKeyPlugin.js
  var PrecacheCacheKeyPlugin = class {
    constructor({ precacheController: precacheController2 }) {
      this.cacheKeyWillBeUsed = async ({ request, params }) => {
        let cacheKey = params?.cacheKey || this._precacheController.getCacheKeyForURL(request.url);
        return cacheKey ? new Request(cacheKey, { headers: request.headers }) : request;
      }, this._precacheController = precacheController2;
    }
  };

  // node_modules/workbox-strategies/_version.js
  try {
    self["workbox:strategies:7.4.0"] && _();
  } catch {
  }

  // node_modules/workbox-strategies/StrategyHandler.js
  function toRequest(input) {
    return typeof input == "string" ? new Request(input) : input;
  }
  var StrategyHandler = class {
    /**
     * Creates a new instance associated with the passed strategy and event
     * that's handling the request.
     *
     * The constructor also initializes the state that will be passed to each of
     * the plugins handling this request.
     *
     * @param {workbox-strategies.Strategy} strategy
     * @param {Object} options
     * @param {Request|string} options.request A request to run this strategy for.
     * @param {ExtendableEvent} options.event The event associated with the
     *     request.
     * @param {URL} [options.url]
     * @param {*} [options.params] The return value from the
     *     {@link workbox-routing~matchCallback} (if applicable).
     */
    constructor(strategy, options) {
      this._cacheKeys = {}, Object.assign(this, options), this.event = options.event, this._strategy = strategy, this._handlerDeferred = new Deferred(), this._extendLifetimePromises = [], this._plugins = [...strategy.plugins], this._pluginStateMap = /* @__PURE__ */ new Map();
      for (let plugin of this._plugins)
        this._pluginStateMap.set(plugin, {});
      this.event.waitUntil(this._handlerDeferred.promise);
    }
    /**
     * Fetches a given request (and invokes any applicable plugin callback
     * methods) using the `fetchOptions` (for non-navigation requests) and
     * `plugins` defined on the `Strategy` object.
     *
     * The following plugin lifecycle methods are invoked when using this method:
     * - `requestWillFetch()`
     * - `fetchDidSucceed()`
     * - `fetchDidFail()`
     *
     * @param {Request|string} input The URL or request to fetch.
     * @return {Promise<Response>}
     */
    async fetch(input) {
      let { event } = this, request = toRequest(input);
      if (request.mode === "navigate" && event instanceof FetchEvent && event.preloadResponse) {
        let possiblePreloadResponse = await event.preloadResponse;
        if (possiblePreloadResponse)
          return possiblePreloadResponse;
      }
      let originalRequest = this.hasCallback("fetchDidFail") ? request.clone() : null;
      try {
        for (let cb of this.iterateCallbacks("requestWillFetch"))
          request = await cb({ request: request.clone(), event });
      } catch (err) {
        if (err instanceof Error)
          throw new WorkboxError("plugin-error-request-will-fetch", {
            thrownErrorMessage: err.message
          });
      }
      let pluginFilteredRequest = request.clone();
      try {
        let fetchResponse;
        fetchResponse = await fetch(request, request.mode === "navigate" ? void 0 : this._strategy.fetchOptions);
        for (let callback of this.iterateCallbacks("fetchDidSucceed"))
          fetchResponse = await callback({
            event,
            request: pluginFilteredRequest,
            response: fetchResponse
          });
        return fetchResponse;
      } catch (error) {
        throw originalRequest && await this.runCallbacks("fetchDidFail", {
          error,
          event,
          originalRequest: originalRequest.clone(),
          request: pluginFilteredRequest.clone()
        }), error;
      }
    }
    /**
     * Calls `this.fetch()` and (in the background) runs `this.cachePut()` on
     * the response generated by `this.fetch()`.
     *
     * The call to `this.cachePut()` automatically invokes `this.waitUntil()`,
     * so you do not have to manually call `waitUntil()` on the event.
     *
     * @param {Request|string} input The request or URL to fetch and cache.
     * @return {Promise<Response>}
     */
    async fetchAndCachePut(input) {
      let response = await this.fetch(input), responseClone = response.clone();
      return this.waitUntil(this.cachePut(input, responseClone)), response;
    }
    /**
     * Matches a request from the cache (and invokes any applicable plugin
     * callback methods) using the `cacheName`, `matchOptions`, and `plugins`
     * defined on the strategy object.
     *
     * The following plugin lifecycle methods are invoked when using this method:
     * - cacheKeyWillBeUsed()
     * - cachedResponseWillBeUsed()
     *
     * @param {Request|string} key The Request or URL to use as the cache key.
     * @return {Promise<Response|undefined>} A matching response, if found.
     */
    async cacheMatch(key) {
      let request = toRequest(key), cachedResponse, { cacheName, matchOptions } = this._strategy, effectiveRequest = await this.getCacheKey(request, "read"), multiMatchOptions = Object.assign(Object.assign({}, matchOptions), { cacheName });
      cachedResponse = await caches.match(effectiveRequest, multiMatchOptions);
      for (let callback of this.iterateCallbacks("cachedResponseWillBeUsed"))
        cachedResponse = await callback({
          cacheName,
          matchOptions,
          cachedResponse,
          request: effectiveRequest,
          event: this.event
        }) || void 0;
      return cachedResponse;
    }
    /**
     * Puts a request/response pair in the cache (and invokes any applicable
     * plugin callback methods) using the `cacheName` and `plugins` defined on
     * the strategy object.
     *
     * The following plugin lifecycle methods are invoked when using this method:
     * - cacheKeyWillBeUsed()
     * - cacheWillUpdate()
     * - cacheDidUpdate()
     *
     * @param {Request|string} key The request or URL to use as the cache key.
     * @param {Response} response The response to cache.
     * @return {Promise<boolean>} `false` if a cacheWillUpdate caused the response
     * not be cached, and `true` otherwise.
     */
    async cachePut(key, response) {
      let request = toRequest(key);
      await timeout(0);
      let effectiveRequest = await this.getCacheKey(request, "write");
      if (!response)
        throw new WorkboxError("cache-put-with-no-response", {
          url: getFriendlyURL(effectiveRequest.url)
        });
      let responseToCache = await this._ensureResponseSafeToCache(response);
      if (!responseToCache)
        return !1;
      let { cacheName, matchOptions } = this._strategy, cache = await self.caches.open(cacheName), hasCacheUpdateCallback = this.hasCallback("cacheDidUpdate"), oldResponse = hasCacheUpdateCallback ? await cacheMatchIgnoreParams(
        // TODO(philipwalton): the `__WB_REVISION__` param is a precaching
        // feature. Consider into ways to only add this behavior if using
        // precaching.
        cache,
        effectiveRequest.clone(),
        ["__WB_REVISION__"],
        matchOptions
      ) : null;
      try {
        await cache.put(effectiveRequest, hasCacheUpdateCallback ? responseToCache.clone() : responseToCache);
      } catch (error) {
        if (error instanceof Error)
          throw error.name === "QuotaExceededError" && await executeQuotaErrorCallbacks(), error;
      }
      for (let callback of this.iterateCallbacks("cacheDidUpdate"))
        await callback({
          cacheName,
          oldResponse,
          newResponse: responseToCache.clone(),
          request: effectiveRequest,
          event: this.event
        });
      return !0;
    }
    /**
     * Checks the list of plugins for the `cacheKeyWillBeUsed` callback, and
     * executes any of those callbacks found in sequence. The final `Request`
     * object returned by the last plugin is treated as the cache key for cache
     * reads and/or writes. If no `cacheKeyWillBeUsed` plugin callbacks have
     * been registered, the passed request is returned unmodified
     *
     * @param {Request} request
     * @param {string} mode
     * @return {Promise<Request>}
     */
    async getCacheKey(request, mode) {
      let key = `${request.url} | ${mode}`;
      if (!this._cacheKeys[key]) {
        let effectiveRequest = request;
        for (let callback of this.iterateCallbacks("cacheKeyWillBeUsed"))
          effectiveRequest = toRequest(await callback({
            mode,
            request: effectiveRequest,
            event: this.event,
            // params has a type any can't change right now.
            params: this.params
            // eslint-disable-line
          }));
        this._cacheKeys[key] = effectiveRequest;
      }
      return this._cacheKeys[key];
    }
    /**
     * Returns true if the strategy has at least one plugin with the given
     * callback.
     *
     * @param {string} name The name of the callback to check for.
     * @return {boolean}
     */
    hasCallback(name) {
      for (let plugin of this._strategy.plugins)
        if (name in plugin)
          return !0;
      return !1;
    }
    /**
     * Runs all plugin callbacks matching the given name, in order, passing the
     * given param object (merged ith the current plugin state) as the only
     * argument.
     *
     * Note: since this method runs all plugins, it's not suitable for cases
     * where the return value of a callback needs to be applied prior to calling
     * the next callback. See
     * {@link workbox-strategies.StrategyHandler#iterateCallbacks}
     * below for how to handle that case.
     *
     * @param {string} name The name of the callback to run within each plugin.
     * @param {Object} param The object to pass as the first (and only) param
     *     when executing each callback. This object will be merged with the
     *     current plugin state prior to callback execution.
     */
    async runCallbacks(name, param) {
      for (let callback of this.iterateCallbacks(name))
        await callback(param);
    }
    /**
     * Accepts a callback and returns an iterable of matching plugin callbacks,
     * where each callback is wrapped with the current handler state (i.e. when
     * you call each callback, whatever object parameter you pass it will
     * be merged with the plugin's current state).
     *
     * @param {string} name The name fo the callback to run
     * @return {Array<Function>}
     */
    *iterateCallbacks(name) {
      for (let plugin of this._strategy.plugins)
        if (typeof plugin[name] == "function") {
          let state = this._pluginStateMap.get(plugin);
          yield (param) => {
            let statefulParam = Object.assign(Object.assign({}, param), { state });
            return plugin[name](statefulParam);
          };
        }
    }
    /**
     * Adds a promise to the
     * [extend lifetime promises]{@link https://w3c.github.io/ServiceWorker/#extendableevent-extend-lifetime-promises}
     * of the event associated with the request being handled (usually a
     * `FetchEvent`).
     *
     * Note: you can await
     * {@link workbox-strategies.StrategyHandler~doneWaiting}
     * to know when all added promises have settled.
     *
     * @param {Promise} promise A promise to add to the extend lifetime promises
     *     of the event that triggered the request.
     */
    waitUntil(promise) {
      return this._extendLifetimePromises.push(promise), promise;
    }
    /**
     * Returns a promise that resolves once all promises passed to
     * {@link workbox-strategies.StrategyHandler~waitUntil}
     * have settled.
     *
     * Note: any work done after `doneWaiting()` settles should be manually
     * passed to an event's `waitUntil()` method (not this handler's
     * `waitUntil()` method), otherwise the service worker thread may be killed
     * prior to your work completing.
     */
    async doneWaiting() {
      for (; this._extendLifetimePromises.length; ) {
        let promises = this._extendLifetimePromises.splice(0), firstRejection = (await Promise.allSettled(promises)).find((i) => i.status === "rejected");
        if (firstRejection)
          throw firstRejection.reason;
      }
    }
    /**
     * Stops running the strategy and immediately resolves any pending
     * `waitUntil()` promises.
     */
    destroy() {
      this._handlerDeferred.resolve(null);
    }
    /**
     * This method will call cacheWillUpdate on the available plugins (or use
     * status === 200) to determine if the Response is safe and valid to cache.
     *
     * @param {Request} options.request
     * @param {Response} options.response
     * @return {Promise<Response|undefined>}
     *
     * @private
     */
    async _ensureResponseSafeToCache(response) {
      let responseToCache = response, pluginsUsed = !1;
      for (let callback of this.iterateCallbacks("cacheWillUpdate"))
        if (responseToCache = await callback({
          request: this.request,
          response: responseToCache,
          event: this.event
        }) || void 0, pluginsUsed = !0, !responseToCache)
          break;
      return pluginsUsed || responseToCache && responseToCache.status !== 200 && (responseToCache = void 0), responseToCache;
    }
  };

  // node_modules/workbox-strategies/Strategy.js
  var Strategy = class {
    /**
     * Creates a new instance of the strategy and sets all documented option
     * properties as public instance properties.
     *
     * Note: if a custom strategy class extends the base Strategy class and does
     * not need more than these properties, it does not need to define its own
     * constructor.
     *
     * @param {Object} [options]
     * @param {string} [options.cacheName] Cache name to store and retrieve
     * requests. Defaults to the cache names provided by
     * {@link workbox-core.cacheNames}.
     * @param {Array<Object>} [options.plugins] [Plugins]{@link https://developers.google.com/web/tools/workbox/guides/using-plugins}
     * to use in conjunction with this caching strategy.
     * @param {Object} [options.fetchOptions] Values passed along to the
     * [`init`](https://developer.mozilla.org/en-US/docs/Web/API/WindowOrWorkerGlobalScope/fetch#Parameters)
     * of [non-navigation](https://github.com/GoogleChrome/workbox/issues/1796)
     * `fetch()` requests made by this strategy.
     * @param {Object} [options.matchOptions] The
     * [`CacheQueryOptions`]{@link https://w3c.github.io/ServiceWorker/#dictdef-cachequeryoptions}
     * for any `cache.match()` or `cache.put()` calls made by this strategy.
     */
    constructor(options = {}) {
      this.cacheName = cacheNames.getRuntimeName(options.cacheName), this.plugins = options.plugins || [], this.fetchOptions = options.fetchOptions, this.matchOptions = options.matchOptions;
    }
    /**
     * Perform a request strategy and returns a `Promise` that will resolve with
     * a `Response`, invoking all relevant plugin callbacks.
     *
     * When a strategy instance is registered with a Workbox
     * {@link workbox-routing.Route}, this method is automatically
     * called when the route matches.
     *
     * Alternatively, this method can be used in a standalone `FetchEvent`
     * listener by passing it to `event.respondWith()`.
     *
     * @param {FetchEvent|Object} options A `FetchEvent` or an object with the
     *     properties listed below.
     * @param {Request|string} options.request A request to run this strategy for.
     * @param {ExtendableEvent} options.event The event associated with the
     *     request.
     * @param {URL} [options.url]
     * @param {*} [options.params]
     */
    handle(options) {
      let [responseDone] = this.handleAll(options);
      return responseDone;
    }
    /**
     * Similar to {@link workbox-strategies.Strategy~handle}, but
     * instead of just returning a `Promise` that resolves to a `Response` it
     * it will return an tuple of `[response, done]` promises, where the former
     * (`response`) is equivalent to what `handle()` returns, and the latter is a
     * Promise that will resolve once any promises that were added to
     * `event.waitUntil()` as part of performing the strategy have completed.
     *
     * You can await the `done` promise to ensure any extra work performed by
     * the strategy (usually caching responses) completes successfully.
     *
     * @param {FetchEvent|Object} options A `FetchEvent` or an object with the
     *     properties listed below.
     * @param {Request|string} options.request A request to run this strategy for.
     * @param {ExtendableEvent} options.event The event associated with the
     *     request.
     * @param {URL} [options.url]
     * @param {*} [options.params]
     * @return {Array<Promise>} A tuple of [response, done]
     *     promises that can be used to determine when the response resolves as
     *     well as when the handler has completed all its work.
     */
    handleAll(options) {
      options instanceof FetchEvent && (options = {
        event: options,
        request: options.request
      });
      let event = options.event, request = typeof options.request == "string" ? new Request(options.request) : options.request, params = "params" in options ? options.params : void 0, handler = new StrategyHandler(this, { event, request, params }), responseDone = this._getResponse(handler, request, event), handlerDone = this._awaitComplete(responseDone, handler, request, event);
      return [responseDone, handlerDone];
    }
    async _getResponse(handler, request, event) {
      await handler.runCallbacks("handlerWillStart", { event, request });
      let response;
      try {
        if (response = await this._handle(request, handler), !response || response.type === "error")
          throw new WorkboxError("no-response", { url: request.url });
      } catch (error) {
        if (error instanceof Error) {
          for (let callback of handler.iterateCallbacks("handlerDidError"))
            if (response = await callback({ error, event, request }), response)
              break;
        }
        if (!response)
          throw error;
      }
      for (let callback of handler.iterateCallbacks("handlerWillRespond"))
        response = await callback({ event, request, response });
      return response;
    }
    async _awaitComplete(responseDone, handler, request, event) {
      let response, error;
      try {
        response = await responseDone;
      } catch {
      }
      try {
        await handler.runCallbacks("handlerDidRespond", {
          event,
          request,
          response
        }), await handler.doneWaiting();
      } catch (waitUntilError) {
        waitUntilError instanceof Error && (error = waitUntilError);
      }
      if (await handler.runCallbacks("handlerDidComplete", {
        event,
        request,
        response,
        error
      }), handler.destroy(), error)
        throw error;
    }
  };

  // node_modules/workbox-precaching/PrecacheStrategy.js
  var PrecacheStrategy = class _PrecacheStrategy extends Strategy {
    /**
     *
     * @param {Object} [options]
     * @param {string} [options.cacheName] Cache name to store and retrieve
     * requests. Defaults to the cache names provided by
     * {@link workbox-core.cacheNames}.
     * @param {Array<Object>} [options.plugins] {@link https://developers.google.com/web/tools/workbox/guides/using-plugins|Plugins}
     * to use in conjunction with this caching strategy.
     * @param {Object} [options.fetchOptions] Values passed along to the
     * {@link https://developer.mozilla.org/en-US/docs/Web/API/WindowOrWorkerGlobalScope/fetch#Parameters|init}
     * of all fetch() requests made by this strategy.
     * @param {Object} [options.matchOptions] The
     * {@link https://w3c.github.io/ServiceWorker/#dictdef-cachequeryoptions|CacheQueryOptions}
     * for any `cache.match()` or `cache.put()` calls made by this strategy.
     * @param {boolean} [options.fallbackToNetwork=true] Whether to attempt to
     * get the response from the network if there's a precache miss.
     */
    constructor(options = {}) {
      options.cacheName = cacheNames.getPrecacheName(options.cacheName), super(options), this._fallbackToNetwork = options.fallbackToNetwork !== !1, this.plugins.push(_PrecacheStrategy.copyRedirectedCacheableResponsesPlugin);
    }
    /**
     * @private
     * @param {Request|string} request A request to run this strategy for.
     * @param {workbox-strategies.StrategyHandler} handler The event that
     *     triggered the request.
     * @return {Promise<Response>}
     */
    async _handle(request, handler) {
      let response = await handler.cacheMatch(request);
      return response || (handler.event && handler.event.type === "install" ? await this._handleInstall(request, handler) : await this._handleFetch(request, handler));
    }
    async _handleFetch(request, handler) {
      let response, params = handler.params || {};
      if (this._fallbackToNetwork) {
        let integrityInManifest = params.integrity, integrityInRequest = request.integrity, noIntegrityConflict = !integrityInRequest || integrityInRequest === integrityInManifest;
        if (response = await handler.fetch(new Request(request, {
          integrity: request.mode !== "no-cors" ? integrityInRequest || integrityInManifest : void 0
        })), integrityInManifest && noIntegrityConflict && request.mode !== "no-cors") {
          this._useDefaultCacheabilityPluginIfNeeded();
          let wasCached = await handler.cachePut(request, response.clone());
        }
      } else
        throw new WorkboxError("missing-precache-entry", {
          cacheName: this.cacheName,
          url: request.url
        });
      return response;
    }
    async _handleInstall(request, handler) {
      this._useDefaultCacheabilityPluginIfNeeded();
      let response = await handler.fetch(request);
      if (!await handler.cachePut(request, response.clone()))
        throw new WorkboxError("bad-precaching-response", {
          url: request.url,
          status: response.status
        });
      return response;
    }
    /**
     * This method is complex, as there a number of things to account for:
     *
     * The `plugins` array can be set at construction, and/or it might be added to
     * to at any time before the strategy is used.
     *
     * At the time the strategy is used (i.e. during an `install` event), there
     * needs to be at least one plugin that implements `cacheWillUpdate` in the
     * array, other than `copyRedirectedCacheableResponsesPlugin`.
     *
     * - If this method is called and there are no suitable `cacheWillUpdate`
     * plugins, we need to add `defaultPrecacheCacheabilityPlugin`.
     *
     * - If this method is called and there is exactly one `cacheWillUpdate`, then
     * we don't have to do anything (this might be a previously added
     * `defaultPrecacheCacheabilityPlugin`, or it might be a custom plugin).
     *
     * - If this method is called and there is more than one `cacheWillUpdate`,
     * then we need to check if one is `defaultPrecacheCacheabilityPlugin`. If so,
     * we need to remove it. (This situation is unlikely, but it could happen if
     * the strategy is used multiple times, the first without a `cacheWillUpdate`,
     * and then later on after manually adding a custom `cacheWillUpdate`.)
     *
     * See https://github.com/GoogleChrome/workbox/issues/2737 for more context.
     *
     * @private
     */
    _useDefaultCacheabilityPluginIfNeeded() {
      let defaultPluginIndex = null, cacheWillUpdatePluginCount = 0;
      for (let [index, plugin] of this.plugins.entries())
        plugin !== _PrecacheStrategy.copyRedirectedCacheableResponsesPlugin && (plugin === _PrecacheStrategy.defaultPrecacheCacheabilityPlugin && (defaultPluginIndex = index), plugin.cacheWillUpdate && cacheWillUpdatePluginCount++);
      cacheWillUpdatePluginCount === 0 ? this.plugins.push(_PrecacheStrategy.defaultPrecacheCacheabilityPlugin) : cacheWillUpdatePluginCount > 1 && defaultPluginIndex !== null && this.plugins.splice(defaultPluginIndex, 1);
    }
  };
  PrecacheStrategy.defaultPrecacheCacheabilityPlugin = {
    async cacheWillUpdate({ response }) {
      return !response || response.status >= 400 ? null : response;
    }
  };
  PrecacheStrategy.copyRedirectedCacheableResponsesPlugin = {
    async cacheWillUpdate({ response }) {
      return response.redirected ? await copyResponse(response) : response;
    }
  };

  // node_modules/workbox-precaching/PrecacheController.js
  var PrecacheController = class {
    /**
     * Create a new PrecacheController.
     *
     * @param {Object} [options]
     * @param {string} [options.cacheName] The cache to use for precaching.
     * @param {string} [options.plugins] Plugins to use when precaching as well
     * as responding to fetch events for precached assets.
     * @param {boolean} [options.fallbackToNetwork=true] Whether to attempt to
     * get the response from the network if there's a precache miss.
     */
    constructor({ cacheName, plugins = [], fallbackToNetwork = !0 } = {}) {
      this._urlsToCacheKeys = /* @__PURE__ */ new Map(), this._urlsToCacheModes = /* @__PURE__ */ new Map(), this._cacheKeysToIntegrities = /* @__PURE__ */ new Map(), this._strategy = new PrecacheStrategy({
        cacheName: cacheNames.getPrecacheName(cacheName),
        plugins: [
          ...plugins,
          new PrecacheCacheKeyPlugin({ precacheController: this })
        ],
        fallbackToNetwork
      }), this.install = this.install.bind(this), this.activate = this.activate.bind(this);
    }
    /**
     * @type {workbox-precaching.PrecacheStrategy} The strategy created by this controller and
     * used to cache assets and respond to fetch events.
     */
    get strategy() {
      return this._strategy;
    }
    /**
     * Adds items to the precache list, removing any duplicates and
     * stores the files in the
     * {@link workbox-core.cacheNames|"precache cache"} when the service
     * worker installs.
     *
     * This method can be called multiple times.
     *
     * @param {Array<Object|string>} [entries=[]] Array of entries to precache.
     */
    precache(entries) {
      this.addToCacheList(entries), this._installAndActiveListenersAdded || (self.addEventListener("install", this.install), self.addEventListener("activate", this.activate), this._installAndActiveListenersAdded = !0);
    }
    /**
     * This method will add items to the precache list, removing duplicates
     * and ensuring the information is valid.
     *
     * @param {Array<workbox-precaching.PrecacheController.PrecacheEntry|string>} entries
     *     Array of entries to precache.
     */
    addToCacheList(entries) {
      let urlsToWarnAbout = [];
      for (let entry of entries) {
        typeof entry == "string" ? urlsToWarnAbout.push(entry) : entry && entry.revision === void 0 && urlsToWarnAbout.push(entry.url);
        let { cacheKey, url } = createCacheKey(entry), cacheMode = typeof entry != "string" && entry.revision ? "reload" : "default";
        if (this._urlsToCacheKeys.has(url) && this._urlsToCacheKeys.get(url) !== cacheKey)
          throw new WorkboxError("add-to-cache-list-conflicting-entries", {
            firstEntry: this._urlsToCacheKeys.get(url),
            secondEntry: cacheKey
          });
        if (typeof entry != "string" && entry.integrity) {
          if (this._cacheKeysToIntegrities.has(cacheKey) && this._cacheKeysToIntegrities.get(cacheKey) !== entry.integrity)
            throw new WorkboxError("add-to-cache-list-conflicting-integrities", {
              url
            });
          this._cacheKeysToIntegrities.set(cacheKey, entry.integrity);
        }
        if (this._urlsToCacheKeys.set(url, cacheKey), this._urlsToCacheModes.set(url, cacheMode), urlsToWarnAbout.length > 0) {
          let warningMessage = `Workbox is precaching URLs without revision info: ${urlsToWarnAbout.join(", ")}
This is generally NOT safe. Learn more at https://bit.ly/wb-precache`;
          console.warn(warningMessage);
        }
      }
    }
    /**
     * Precaches new and updated assets. Call this method from the service worker
     * install event.
     *
     * Note: this method calls `event.waitUntil()` for you, so you do not need
     * to call it yourself in your event handlers.
     *
     * @param {ExtendableEvent} event
     * @return {Promise<workbox-precaching.InstallResult>}
     */
    install(event) {
      return waitUntil(event, async () => {
        let installReportPlugin = new PrecacheInstallReportPlugin();
        this.strategy.plugins.push(installReportPlugin);
        for (let [url, cacheKey] of this._urlsToCacheKeys) {
          let integrity = this._cacheKeysToIntegrities.get(cacheKey), cacheMode = this._urlsToCacheModes.get(url), request = new Request(url, {
            integrity,
            cache: cacheMode,
            credentials: "same-origin"
          });
          await Promise.all(this.strategy.handleAll({
            params: { cacheKey },
            request,
            event
          }));
        }
        let { updatedURLs, notUpdatedURLs } = installReportPlugin;
        return { updatedURLs, notUpdatedURLs };
      });
    }
    /**
     * Deletes assets that are no longer present in the current precache manifest.
     * Call this method from the service worker activate event.
     *
     * Note: this method calls `event.waitUntil()` for you, so you do not need
     * to call it yourself in your event handlers.
     *
     * @param {ExtendableEvent} event
     * @return {Promise<workbox-precaching.CleanupResult>}
     */
    activate(event) {
      return waitUntil(event, async () => {
        let cache = await self.caches.open(this.strategy.cacheName), currentlyCachedRequests = await cache.keys(), expectedCacheKeys = new Set(this._urlsToCacheKeys.values()), deletedURLs = [];
        for (let request of currentlyCachedRequests)
          expectedCacheKeys.has(request.url) || (await cache.delete(request), deletedURLs.push(request.url));
        return { deletedURLs };
      });
    }
    /**
     * Returns a mapping of a precached URL to the corresponding cache key, taking
     * into account the revision information for the URL.
     *
     * @return {Map<string, string>} A URL to cache key mapping.
     */
    getURLsToCacheKeys() {
      return this._urlsToCacheKeys;
    }
    /**
     * Returns a list of all the URLs that have been precached by the current
     * service worker.
     *
     * @return {Array<string>} The precached URLs.
     */
    getCachedURLs() {
      return [...this._urlsToCacheKeys.keys()];
    }
    /**
     * Returns the cache key used for storing a given URL. If that URL is
     * unversioned, like `/index.html', then the cache key will be the original
     * URL with a search parameter appended to it.
     *
     * @param {string} url A URL whose cache key you want to look up.
     * @return {string} The versioned URL that corresponds to a cache key
     * for the original URL, or undefined if that URL isn't precached.
     */
    getCacheKeyForURL(url) {
      let urlObject = new URL(url, location.href);
      return this._urlsToCacheKeys.get(urlObject.href);
    }
    /**
     * @param {string} url A cache key whose SRI you want to look up.
     * @return {string} The subresource integrity associated with the cache key,
     * or undefined if it's not set.
     */
    getIntegrityForCacheKey(cacheKey) {
      return this._cacheKeysToIntegrities.get(cacheKey);
    }
    /**
     * This acts as a drop-in replacement for
     * [`cache.match()`](https://developer.mozilla.org/en-US/docs/Web/API/Cache/match)
     * with the following differences:
     *
     * - It knows what the name of the precache is, and only checks in that cache.
     * - It allows you to pass in an "original" URL without versioning parameters,
     * and it will automatically look up the correct cache key for the currently
     * active revision of that URL.
     *
     * E.g., `matchPrecache('index.html')` will find the correct precached
     * response for the currently active service worker, even if the actual cache
     * key is `'/index.html?__WB_REVISION__=1234abcd'`.
     *
     * @param {string|Request} request The key (without revisioning parameters)
     * to look up in the precache.
     * @return {Promise<Response|undefined>}
     */
    async matchPrecache(request) {
      let url = request instanceof Request ? request.url : request, cacheKey = this.getCacheKeyForURL(url);
      if (cacheKey)
        return (await self.caches.open(this.strategy.cacheName)).match(cacheKey);
    }
    /**
     * Returns a function that looks up `url` in the precache (taking into
     * account revision information), and returns the corresponding `Response`.
     *
     * @param {string} url The precached URL which will be used to lookup the
     * `Response`.
     * @return {workbox-routing~handlerCallback}
     */
    createHandlerBoundToURL(url) {
      let cacheKey = this.getCacheKeyForURL(url);
      if (!cacheKey)
        throw new WorkboxError("non-precached-url", { url });
      return (options) => (options.request = new Request(url), options.params = Object.assign({ cacheKey }, options.params), this.strategy.handle(options));
    }
  };

  // node_modules/workbox-precaching/utils/getOrCreatePrecacheController.js
  var precacheController, getOrCreatePrecacheController = () => (precacheController || (precacheController = new PrecacheController()), precacheController);

  // node_modules/workbox-routing/_version.js
  try {
    self["workbox:routing:7.4.0"] && _();
  } catch {
  }

  // node_modules/workbox-routing/utils/constants.js
  var defaultMethod = "GET";

  // node_modules/workbox-routing/utils/normalizeHandler.js
  var normalizeHandler = (handler) => handler && typeof handler == "object" ? handler : { handle: handler };

  // node_modules/workbox-routing/Route.js
  var Route = class {
    /**
     * Constructor for Route class.
     *
     * @param {workbox-routing~matchCallback} match
     * A callback function that determines whether the route matches a given
     * `fetch` event by returning a non-falsy value.
     * @param {workbox-routing~handlerCallback} handler A callback
     * function that returns a Promise resolving to a Response.
     * @param {string} [method='GET'] The HTTP method to match the Route
     * against.
     */
    constructor(match, handler, method = defaultMethod) {
      this.handler = normalizeHandler(handler), this.match = match, this.method = method;
    }
    /**
     *
     * @param {workbox-routing-handlerCallback} handler A callback
     * function that returns a Promise resolving to a Response
     */
    setCatchHandler(handler) {
      this.catchHandler = normalizeHandler(handler);
    }
  };

  // node_modules/workbox-routing/RegExpRoute.js
  var RegExpRoute = class extends Route {
    /**
     * If the regular expression contains
     * [capture groups]{@link https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Global_Objects/RegExp#grouping-back-references},
     * the captured values will be passed to the
     * {@link workbox-routing~handlerCallback} `params`
     * argument.
     *
     * @param {RegExp} regExp The regular expression to match against URLs.
     * @param {workbox-routing~handlerCallback} handler A callback
     * function that returns a Promise resulting in a Response.
     * @param {string} [method='GET'] The HTTP method to match the Route
     * against.
     */
    constructor(regExp, handler, method) {
      let match = ({ url }) => {
        let result = regExp.exec(url.href);
        if (result && !(url.origin !== location.origin && result.index !== 0))
          return result.slice(1);
      };
      super(match, handler, method);
    }
  };

  // node_modules/workbox-routing/Router.js
  var Router = class {
    /**
     * Initializes a new Router.
     */
    constructor() {
      this._routes = /* @__PURE__ */ new Map(), this._defaultHandlerMap = /* @__PURE__ */ new Map();
    }
    /**
     * @return {Map<string, Array<workbox-routing.Route>>} routes A `Map` of HTTP
     * method name ('GET', etc.) to an array of all the corresponding `Route`
     * instances that are registered.
     */
    get routes() {
      return this._routes;
    }
    /**
     * Adds a fetch event listener to respond to events when a route matches
     * the event's request.
     */
    addFetchListener() {
      self.addEventListener("fetch", ((event) => {
        let { request } = event, responsePromise = this.handleRequest({ request, event });
        responsePromise && event.respondWith(responsePromise);
      }));
    }
    /**
     * Adds a message event listener for URLs to cache from the window.
     * This is useful to cache resources loaded on the page prior to when the
     * service worker started controlling it.
     *
     * The format of the message data sent from the window should be as follows.
     * Where the `urlsToCache` array may consist of URL strings or an array of
     * URL string + `requestInit` object (the same as you'd pass to `fetch()`).
     *
     * ```
     * {
     *   type: 'CACHE_URLS',
     *   payload: {
     *     urlsToCache: [
     *       './script1.js',
     *       './script2.js',
     *       ['./script3.js', {mode: 'no-cors'}],
     *     ],
     *   },
     * }
     * ```
     */
    addCacheListener() {
      self.addEventListener("message", ((event) => {
        if (event.data && event.data.type === "CACHE_URLS") {
          let { payload } = event.data, requestPromises = Promise.all(payload.urlsToCache.map((entry) => {
            typeof entry == "string" && (entry = [entry]);
            let request = new Request(...entry);
            return this.handleRequest({ request, event });
          }));
          event.waitUntil(requestPromises), event.ports && event.ports[0] && requestPromises.then(() => event.ports[0].postMessage(!0));
        }
      }));
    }
    /**
     * Apply the routing rules to a FetchEvent object to get a Response from an
     * appropriate Route's handler.
     *
     * @param {Object} options
     * @param {Request} options.request The request to handle.
     * @param {ExtendableEvent} options.event The event that triggered the
     *     request.
     * @return {Promise<Response>|undefined} A promise is returned if a
     *     registered route can handle the request. If there is no matching
     *     route and there's no `defaultHandler`, `undefined` is returned.
     */
    handleRequest({ request, event }) {
      let url = new URL(request.url, location.href);
      if (!url.protocol.startsWith("http"))
        return;
      let sameOrigin = url.origin === location.origin, { params, route } = this.findMatchingRoute({
        event,
        request,
        sameOrigin,
        url
      }), handler = route && route.handler, debugMessages = [], method = request.method;
      if (!handler && this._defaultHandlerMap.has(method) && (handler = this._defaultHandlerMap.get(method)), !handler)
        return;
      let responsePromise;
      try {
        responsePromise = handler.handle({ url, request, event, params });
      } catch (err) {
        responsePromise = Promise.reject(err);
      }
      let catchHandler = route && route.catchHandler;
      return responsePromise instanceof Promise && (this._catchHandler || catchHandler) && (responsePromise = responsePromise.catch(async (err) => {
        if (catchHandler)
          try {
            return await catchHandler.handle({ url, request, event, params });
          } catch (catchErr) {
            catchErr instanceof Error && (err = catchErr);
          }
        if (this._catchHandler)
          return this._catchHandler.handle({ url, request, event });
        throw err;
      })), responsePromise;
    }
    /**
     * Checks a request and URL (and optionally an event) against the list of
     * registered routes, and if there's a match, returns the corresponding
     * route along with any params generated by the match.
     *
     * @param {Object} options
     * @param {URL} options.url
     * @param {boolean} options.sameOrigin The result of comparing `url.origin`
     *     against the current origin.
     * @param {Request} options.request The request to match.
     * @param {Event} options.event The corresponding event.
     * @return {Object} An object with `route` and `params` properties.
     *     They are populated if a matching route was found or `undefined`
     *     otherwise.
     */
    findMatchingRoute({ url, sameOrigin, request, event }) {
      let routes = this._routes.get(request.method) || [];
      for (let route of routes) {
        let params, matchResult = route.match({ url, sameOrigin, request, event });
        if (matchResult)
          return params = matchResult, (Array.isArray(params) && params.length === 0 || matchResult.constructor === Object && // eslint-disable-line
          Object.keys(matchResult).length === 0 || typeof matchResult == "boolean") && (params = void 0), { route, params };
      }
      return {};
    }
    /**
     * Define a default `handler` that's called when no routes explicitly
     * match the incoming request.
     *
     * Each HTTP method ('GET', 'POST', etc.) gets its own default handler.
     *
     * Without a default handler, unmatched requests will go against the
     * network as if there were no service worker present.
     *
     * @param {workbox-routing~handlerCallback} handler A callback
     * function that returns a Promise resulting in a Response.
     * @param {string} [method='GET'] The HTTP method to associate with this
     * default handler. Each method has its own default.
     */
    setDefaultHandler(handler, method = defaultMethod) {
      this._defaultHandlerMap.set(method, normalizeHandler(handler));
    }
    /**
     * If a Route throws an error while handling a request, this `handler`
     * will be called and given a chance to provide a response.
     *
     * @param {workbox-routing~handlerCallback} handler A callback
     * function that returns a Promise resulting in a Response.
     */
    setCatchHandler(handler) {
      this._catchHandler = normalizeHandler(handler);
    }
    /**
     * Registers a route with the router.
     *
     * @param {workbox-routing.Route} route The route to register.
     */
    registerRoute(route) {
      this._routes.has(route.method) || this._routes.set(route.method, []), this._routes.get(route.method).push(route);
    }
    /**
     * Unregisters a route with the router.
     *
     * @param {workbox-routing.Route} route The route to unregister.
     */
    unregisterRoute(route) {
      if (!this._routes.has(route.method))
        throw new WorkboxError("unregister-route-but-not-found-with-method", {
          method: route.method
        });
      let routeIndex = this._routes.get(route.method).indexOf(route);
      if (routeIndex > -1)
        this._routes.get(route.method).splice(routeIndex, 1);
      else
        throw new WorkboxError("unregister-route-route-not-registered");
    }
  };

  // node_modules/workbox-routing/utils/getOrCreateDefaultRouter.js
  var defaultRouter, getOrCreateDefaultRouter = () => (defaultRouter || (defaultRouter = new Router(), defaultRouter.addFetchListener(), defaultRouter.addCacheListener()), defaultRouter);

  // node_modules/workbox-routing/registerRoute.js
  function registerRoute(capture, handler, method) {
    let route;
    if (typeof capture == "string") {
      let captureUrl = new URL(capture, location.href), matchCallback = ({ url }) => url.href === captureUrl.href;
      route = new Route(matchCallback, handler, method);
    } else if (capture instanceof RegExp)
      route = new RegExpRoute(capture, handler, method);
    else if (typeof capture == "function")
      route = new Route(capture, handler, method);
    else if (capture instanceof Route)
      route = capture;
    else
      throw new WorkboxError("unsupported-route-type", {
        moduleName: "workbox-routing",
        funcName: "registerRoute",
        paramName: "capture"
      });
    return getOrCreateDefaultRouter().registerRoute(route), route;
  }

  // node_modules/workbox-precaching/utils/removeIgnoredSearchParams.js
  function removeIgnoredSearchParams(urlObject, ignoreURLParametersMatching = []) {
    for (let paramName of [...urlObject.searchParams.keys()])
      ignoreURLParametersMatching.some((regExp) => regExp.test(paramName)) && urlObject.searchParams.delete(paramName);
    return urlObject;
  }

  // node_modules/workbox-precaching/utils/generateURLVariations.js
  function* generateURLVariations(url, { ignoreURLParametersMatching = [/^utm_/, /^fbclid$/], directoryIndex = "index.html", cleanURLs = !0, urlManipulation } = {}) {
    let urlObject = new URL(url, location.href);
    urlObject.hash = "", yield urlObject.href;
    let urlWithoutIgnoredParams = removeIgnoredSearchParams(urlObject, ignoreURLParametersMatching);
    if (yield urlWithoutIgnoredParams.href, directoryIndex && urlWithoutIgnoredParams.pathname.endsWith("/")) {
      let directoryURL = new URL(urlWithoutIgnoredParams.href);
      directoryURL.pathname += directoryIndex, yield directoryURL.href;
    }
    if (cleanURLs) {
      let cleanURL = new URL(urlWithoutIgnoredParams.href);
      cleanURL.pathname += ".html", yield cleanURL.href;
    }
    if (urlManipulation) {
      let additionalURLs = urlManipulation({ url: urlObject });
      for (let urlToAttempt of additionalURLs)
        yield urlToAttempt.href;
    }
  }

  // node_modules/workbox-precaching/PrecacheRoute.js
  var PrecacheRoute = class extends Route {
    /**
     * @param {PrecacheController} precacheController A `PrecacheController`
     * instance used to both match requests and respond to fetch events.
     * @param {Object} [options] Options to control how requests are matched
     * against the list of precached URLs.
     * @param {string} [options.directoryIndex=index.html] The `directoryIndex` will
     * check cache entries for a URLs ending with '/' to see if there is a hit when
     * appending the `directoryIndex` value.
     * @param {Array<RegExp>} [options.ignoreURLParametersMatching=[/^utm_/, /^fbclid$/]] An
     * array of regex's to remove search params when looking for a cache match.
     * @param {boolean} [options.cleanURLs=true] The `cleanURLs` option will
     * check the cache for the URL with a `.html` added to the end of the end.
     * @param {workbox-precaching~urlManipulation} [options.urlManipulation]
     * This is a function that should take a URL and return an array of
     * alternative URLs that should be checked for precache matches.
     */
    constructor(precacheController2, options) {
      let match = ({ request }) => {
        let urlsToCacheKeys = precacheController2.getURLsToCacheKeys();
        for (let possibleURL of generateURLVariations(request.url, options)) {
          let cacheKey = urlsToCacheKeys.get(possibleURL);
          if (cacheKey) {
            let integrity = precacheController2.getIntegrityForCacheKey(cacheKey);
            return { cacheKey, integrity };
          }
        }
      };
      super(match, precacheController2.strategy);
    }
  };

  // node_modules/workbox-precaching/addRoute.js
  function addRoute(options) {
    let precacheController2 = getOrCreatePrecacheController(), precacheRoute = new PrecacheRoute(precacheController2, options);
    registerRoute(precacheRoute);
  }

  // node_modules/workbox-precaching/utils/deleteOutdatedCaches.js
  var SUBSTRING_TO_FIND = "-precache-", deleteOutdatedCaches = async (currentPrecacheName, substringToFind = SUBSTRING_TO_FIND) => {
    let cacheNamesToDelete = (await self.caches.keys()).filter((cacheName) => cacheName.includes(substringToFind) && cacheName.includes(self.registration.scope) && cacheName !== currentPrecacheName);
    return await Promise.all(cacheNamesToDelete.map((cacheName) => self.caches.delete(cacheName))), cacheNamesToDelete;
  };

  // node_modules/workbox-precaching/cleanupOutdatedCaches.js
  function cleanupOutdatedCaches() {
    self.addEventListener("activate", ((event) => {
      let cacheName = cacheNames.getPrecacheName();
      event.waitUntil(deleteOutdatedCaches(cacheName).then((cachesDeleted) => {
      }));
    }));
  }

  // node_modules/workbox-precaching/precache.js
  function precache(entries) {
    getOrCreatePrecacheController().precache(entries);
  }

  // node_modules/workbox-precaching/precacheAndRoute.js
  function precacheAndRoute(entries, options) {
    precache(entries), addRoute(options);
  }

  // node_modules/workbox-strategies/plugins/cacheOkAndOpaquePlugin.js
  var cacheOkAndOpaquePlugin = {
    /**
     * Returns a valid response (to allow caching) if the status is 200 (OK) or
     * 0 (opaque).
     *
     * @param {Object} options
     * @param {Response} options.response
     * @return {Response|null}
     *
     * @private
     */
    cacheWillUpdate: async ({ response }) => response.status === 200 || response.status === 0 ? response : null
  };

  // node_modules/workbox-strategies/NetworkFirst.js
  var NetworkFirst = class extends Strategy {
    /**
     * @param {Object} [options]
     * @param {string} [options.cacheName] Cache name to store and retrieve
     * requests. Defaults to cache names provided by
     * {@link workbox-core.cacheNames}.
     * @param {Array<Object>} [options.plugins] [Plugins]{@link https://developers.google.com/web/tools/workbox/guides/using-plugins}
     * to use in conjunction with this caching strategy.
     * @param {Object} [options.fetchOptions] Values passed along to the
     * [`init`](https://developer.mozilla.org/en-US/docs/Web/API/WindowOrWorkerGlobalScope/fetch#Parameters)
     * of [non-navigation](https://github.com/GoogleChrome/workbox/issues/1796)
     * `fetch()` requests made by this strategy.
     * @param {Object} [options.matchOptions] [`CacheQueryOptions`](https://w3c.github.io/ServiceWorker/#dictdef-cachequeryoptions)
     * @param {number} [options.networkTimeoutSeconds] If set, any network requests
     * that fail to respond within the timeout will fallback to the cache.
     *
     * This option can be used to combat
     * "[lie-fi]{@link https://developers.google.com/web/fundamentals/performance/poor-connectivity/#lie-fi}"
     * scenarios.
     */
    constructor(options = {}) {
      super(options), this.plugins.some((p) => "cacheWillUpdate" in p) || this.plugins.unshift(cacheOkAndOpaquePlugin), this._networkTimeoutSeconds = options.networkTimeoutSeconds || 0;
    }
    /**
     * @private
     * @param {Request|string} request A request to run this strategy for.
     * @param {workbox-strategies.StrategyHandler} handler The event that
     *     triggered the request.
     * @return {Promise<Response>}
     */
    async _handle(request, handler) {
      let logs = [], promises = [], timeoutId;
      if (this._networkTimeoutSeconds) {
        let { id, promise } = this._getTimeoutPromise({ request, logs, handler });
        timeoutId = id, promises.push(promise);
      }
      let networkPromise = this._getNetworkPromise({
        timeoutId,
        request,
        logs,
        handler
      });
      promises.push(networkPromise);
      let response = await handler.waitUntil((async () => await handler.waitUntil(Promise.race(promises)) || // If Promise.race() resolved with null, it might be due to a network
      // timeout + a cache miss. If that were to happen, we'd rather wait until
      // the networkPromise resolves instead of returning null.
      // Note that it's fine to await an already-resolved promise, so we don't
      // have to check to see if it's still "in flight".
      await networkPromise)());
      if (!response)
        throw new WorkboxError("no-response", { url: request.url });
      return response;
    }
    /**
     * @param {Object} options
     * @param {Request} options.request
     * @param {Array} options.logs A reference to the logs array
     * @param {Event} options.event
     * @return {Promise<Response>}
     *
     * @private
     */
    _getTimeoutPromise({ request, logs, handler }) {
      let timeoutId;
      return {
        promise: new Promise((resolve) => {
          timeoutId = setTimeout(async () => {
            resolve(await handler.cacheMatch(request));
          }, this._networkTimeoutSeconds * 1e3);
        }),
        id: timeoutId
      };
    }
    /**
     * @param {Object} options
     * @param {number|undefined} options.timeoutId
     * @param {Request} options.request
     * @param {Array} options.logs A reference to the logs Array.
     * @param {Event} options.event
     * @return {Promise<Response>}
     *
     * @private
     */
    async _getNetworkPromise({ timeoutId, request, logs, handler }) {
      let error, response;
      try {
        response = await handler.fetchAndCachePut(request);
      } catch (fetchError) {
        fetchError instanceof Error && (error = fetchError);
      }
      return timeoutId && clearTimeout(timeoutId), (error || !response) && (response = await handler.cacheMatch(request)), response;
    }
  };

  // src/sw.js
  var REFERENCE_CACHE = "kit-reference";
  self.skipWaiting();
  clientsClaim();
  cleanupOutdatedCaches();
  precacheAndRoute(define_self_WB_MANIFEST_default);
  registerRoute(
    ({ url }) => url.pathname === "/v1/reference",
    new NetworkFirst({ cacheName: REFERENCE_CACHE, networkTimeoutSeconds: 10 })
  );
})();

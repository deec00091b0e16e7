package org.cdscyto.hapi;

import java.util.Properties;

import javax.sql.DataSource;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings.ClientIdStrategyEnum;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.packages.loader.PackageLoaderSvc;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.api.SearchTotalModeEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import jakarta.persistence.EntityManagerFactory;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * The JPA plumbing HAPI's {@link JpaR4Config} expects from its host application
 * (data source, entity manager factory, transaction manager, storage settings), plus the
 * FHIR REST servlet at {@code /fhir/*}.
 */
@Configuration
@Import({
	JpaR4Config.class, // R4 FhirContext, resource DAOs/providers, system DAO/provider, JpaConfig
	HapiJpaConfig.class, // paging provider, stale-search cleanup, (inert) full-text service
	ThreadPoolFactoryConfig.class, // thread pools used by the transaction processor
	JpaBatch2Config.class, // batch2 job store: the DAOs depend on the job coordinator
	Batch2JobsConfig.class, // batch2 job definitions (expunge, reindex, ...) the DAOs reference
	SubscriptionChannelConfig.class // in-memory message channels used by batch2 (no subscriptions)
})
public class FhirServerConfig {

	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings settings = new JpaStorageSettings();
		// No search-result reuse: every search hits the database, because tests write and
		// immediately read back (HAPI's default reuses identical searches for 60 s).
		settings.setReuseCachedSearchResultsForMillis(null);
		// A sandbox takes what other sandboxes take: any client-assigned id, numeric ones too
		// (Cerner-style Patient/3998008), with server-assigned ids as UUIDs so the two cannot clash.
		settings.setResourceClientIdStrategy(ClientIdStrategyEnum.ANY);
		settings.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		// Others' example data (US Core examples, an EHR export, a patient whose Medication lives
		// elsewhere) refer to resources it does not carry: store it as given instead of refusing it.
		// A production server would enforce this; a test and loading sandbox must not.
		settings.setEnforceReferentialIntegrityOnWrite(false);
		settings.setEnforceReferentialIntegrityOnDelete(false);
		// No Hibernate Search / Lucene: no _text/_content, no full-text indexing.
		settings.setHibernateSearchIndexFullText(false);
		settings.setAdvancedHSearchIndexing(false);
		settings.setHibernateSearchIndexSearchParams(false);
		settings.setStoreResourceInHSearchIndex(false);
		// Bundle.total on every search page (cheap on H2, handy in tests).
		settings.setDefaultTotalMode(SearchTotalModeEnum.ACCURATE);
		// Allow $expunge (e.g. POST /fhir/$expunge with expungeEverything=true) to reset data.
		settings.setExpungeEnabled(true);
		settings.setAllowMultipleDelete(true);
		return settings;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource(
			@Value("${hapi.datasource.url:jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1}") String url,
			@Value("${hapi.datasource.max-total:20}") int maxTotal) {
		BasicDataSource ds = new BasicDataSource();
		ds.setDriver(new org.h2.Driver());
		ds.setUrl(url);
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(maxTotal);
		ds.setMaxWait(java.time.Duration.ofSeconds(30));
		return ds;
	}

	@Primary
	@Bean
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_TEST_PU");
		emf.setDataSource(dataSource);
		Properties props = new Properties();
		props.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		props.put("hibernate.hbm2ddl.auto", "update");
		props.put("hibernate.show_sql", "false");
		props.put("hibernate.format_sql", "false");
		props.put("hibernate.cache.use_second_level_cache", "false");
		props.put("hibernate.cache.use_query_cache", "false");
		props.put("hibernate.search.enabled", "false");
		emf.setJpaProperties(props);
		return emf;
	}

	@Primary
	@Bean
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		return new JpaTransactionManager(entityManagerFactory);
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(
			FhirContext fhirContext,
			@Qualifier("myResourceProvidersR4") ResourceProviderFactory resourceProviders,
			@Qualifier("mySystemProviderR4") JpaSystemProvider<?, ?> systemProvider,
			IFhirSystemDao<?, ?> systemDao,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			PackageLoaderSvc packageLoaderSvc,
			@Value("${hapi.default-page-size:50}") int defaultPageSize,
			@Value("${hapi.max-page-size:1000}") int maxPageSize) {
		// No implementation guides / packages are ever installed, and the package
		// registries are unreachable anyway: make sure nothing tries to download.
		packageLoaderSvc.getPackageServers().clear();

		pagingProvider.setDefaultPageSize(defaultPageSize);
		pagingProvider.setMaximumPageSize(maxPageSize);

		RestfulServer server = new RestfulServer(fhirContext);
		server.registerProviders(resourceProviders.createProviders());
		server.registerProvider(systemProvider); // POST /fhir with batch/transaction Bundles
		server.setPagingProvider(pagingProvider);
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("cds-cyto HAPI FHIR test server (R4, H2 in-memory)");
		server.setServerConformanceProvider(capabilities);

		ServletRegistrationBean<RestfulServer> registration = new ServletRegistrationBean<>(server, "/fhir/*");
		registration.setName("fhir");
		registration.setLoadOnStartup(1);
		return registration;
	}
}
